#!/usr/bin/env python3
"""The controller's container image, built with no registry and checked end to end:
  image_test.py CONTROLLER_BINARY CLI_BINARY
1. deploy/image/build-image.sh builds the OCI archive from CONTROLLER_BINARY (buildah, FROM
   scratch: the Containerfile's last stage).
2. The archive, read as a runtime would (oci_archive.py): every digest; the config (user 10001,
   entrypoint, command, ports, working directory, labels); the layer's file list is exactly the
   binary, the libraries the loader resolves for it, the loader and the few /etc files (no shell);
   ownership and modes; the size.
3. The layer alone, unpacked, under plain chroot as uid 10001 (no container runtime): the loader
   resolves every library inside it; --version; init-ca.
4. The archive loaded by buildah and run as a container (chroot isolation, the image's user and
   working directory, its entrypoint and command): `migrate` (as the chart's Job) and `serve`
   against a private PostgreSQL on loopback TCP (the database user comes from the image's
   /etc/passwd), then the keyfleet CLI from outside with the CA certificate and bootstrap token
   the container made; SIGTERM stops it cleanly.
Needs root, buildah, the PostgreSQL server; fails (never skips) without them."""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from oci_archive import ArchiveError, LayerTree, OciArchive  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE_UID = 10001
ENTRYPOINT = ["/usr/bin/keyfleet-controller"]
COMMAND = ["serve", "--config", "/etc/keyfleet/controller.yaml"]
# The files the image holds besides the libraries: anything more was added by mistake.
IMAGE_FILES = {
    "usr/bin/keyfleet-controller",
    "etc/passwd",
    "etc/group",
    "etc/nsswitch.conf",
    "etc/keyfleet/controller.yaml",
    "etc/ssl/certs/ca-certificates.crt",
}
# Directories that hold no file but must exist: scratch space and the controller's state.
EMPTY_DIRECTORIES = {"tmp": 0o1777, "var/lib/keyfleet": 0o700}
# 43 MiB when this test was written; growing past this means something new came in: look at it.
MAX_UNPACKED_BYTES = 64 << 20
STEP_TIMEOUT = 60  # seconds for any one command
CONTROLLER_COMM = "keyfleet-contro"  # /proc/PID/comm keeps 15 characters


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(argv, timeout=STEP_TIMEOUT, env=None, expect_ok=True):
    """Runs argv; returns (exit code, stdout+stderr); raises Failure on a non-zero exit when
    expect_ok."""
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout, env=env, text=True)
    except subprocess.TimeoutExpired:
        raise Failure(f"timed out after {timeout}s: {shlex.join(argv)}")
    except OSError as error:
        raise Failure(f"cannot run {shlex.join(argv)}: {error}")
    if expect_ok and done.returncode != 0:
        raise Failure(f"exit {done.returncode}: {shlex.join(argv)}\n{done.stdout}")
    return done.returncode, done.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def host_libraries(binary):
    """The paths ldd resolves for `binary` on this machine, the loader included."""
    _, out = run(["ldd", binary])
    check("not found" not in out, f"ldd {binary} on this machine:\n{out}")
    paths = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "=>" and fields[2].startswith("/"):
            paths.append(fields[2])
        elif fields and fields[0].startswith("/"):
            paths.append(fields[0])
    check(paths, f"ldd listed nothing for {binary}")
    return paths


def host_symlinks_on_the_way(path, found, hops=0):
    """Adds to `found` every symlink met resolving `path` on this machine (the layer must hold
    each, as the loader meets them)."""
    check(hops < 40, f"symlink loop at {path}")
    prefix = ""
    parts = [p for p in path.strip("/").split("/") if p not in ("", ".")]
    for i, part in enumerate(parts):
        if part == "..":
            prefix = os.path.dirname(prefix)
            prefix = "" if prefix == "/" else prefix
            continue
        prefix = f"{prefix}/{part}"
        if os.path.islink(prefix):
            found.add(prefix.lstrip("/"))
            target = os.readlink(prefix)
            base = "/" if target.startswith("/") else os.path.dirname(prefix)
            host_symlinks_on_the_way(os.path.join(base, target, *parts[i + 1:]), found, hops + 1)
            return


class Deployment:
    """What the test starts, stopped by stop() or, if this process dies first (a ctest timeout),
    by a watchdog in its own session."""

    def __init__(self):
        self.work = tempfile.mkdtemp(prefix="keyfleet-image-test.")
        os.chmod(self.work, 0o711)  # the postgres user reaches its data directory inside
        self.pg_bin = self._postgres_bin_dir()
        self.pg_data = os.path.join(self.work, "pg", "data")
        self.store = os.path.join(self.work, "buildah")
        self.buildah_env = dict(os.environ, BUILDAH_ISOLATION="chroot",
                                TMPDIR=os.path.join(self.work, "buildah-tmp"))
        os.makedirs(self.buildah_env["TMPDIR"])
        self.controller = None
        cleanup = (
            # Any process whose root is inside the work directory: a container left running.
            f'for p in /proc/[0-9]*; do case "$(readlink "$p/root" 2>/dev/null)" in '
            f'{shlex.quote(self.work)}/*) kill -KILL "${{p#/proc/}}";; esac; done; '
            f"runuser -u postgres -- {self.pg_bin}/pg_ctl -D {shlex.quote(self.pg_data)} "
            f"-m immediate stop; rm -rf --one-file-system {shlex.quote(self.work)}")
        self.watchdog = subprocess.Popen(
            ["sh", "-c", f'read line; [ "$line" = done ] || {{ {cleanup}; }}'],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, text=True)

    @staticmethod
    def _postgres_bin_dir():
        versions = sorted((d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()), key=int)
        for version in reversed(versions):
            if os.access(f"/usr/lib/postgresql/{version}/bin/initdb", os.X_OK):
                return f"/usr/lib/postgresql/{version}/bin"
        raise Failure("no /usr/lib/postgresql/N/bin/initdb: install postgresql "
                      "(deploy/install-deps.sh does)")

    def buildah_argv(self, *args):
        """buildah with this test's private store."""
        return ["buildah", "--storage-driver", "vfs", "--root", self.store,
                "--runroot", os.path.join(self.work, "buildah-run"), *args]

    def buildah(self, *args, timeout=STEP_TIMEOUT):
        return run(self.buildah_argv(*args), timeout=timeout, env=self.buildah_env)[1]

    def start_postgres(self):
        """A private server on 127.0.0.1 (the controller in the container reaches it over TCP),
        trust authentication, superuser `keyfleet`, database `keyfleet`. Returns its port."""
        os.makedirs(os.path.dirname(self.pg_data))
        shutil.chown(os.path.dirname(self.pg_data), "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
        run(as_postgres + [f"{self.pg_bin}/initdb", "-D", self.pg_data, "-U", "keyfleet",
                           "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        port = free_port()
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {os.path.dirname(self.pg_data)} "
                   "-c fsync=off")
        log = os.path.join(os.path.dirname(self.pg_data), "server.log")
        try:
            run(as_postgres + [f"{self.pg_bin}/pg_ctl", "-D", self.pg_data, "-l", log, "-w",
                               "-t", "60", "-o", options, "start"])
        except Failure as failure:
            server_log = open(log).read() if os.path.exists(log) else "(none)"
            raise Failure(f"{failure}\nPostgreSQL's log:\n{server_log}")
        run(as_postgres + [f"{self.pg_bin}/createdb", "-h", "127.0.0.1", "-p", str(port),
                           "-U", "keyfleet", "keyfleet"])
        return port

    def stop(self):
        if self.controller is not None and self.controller.poll() is None:
            # buildah run's child would outlive buildah: the controller goes first.
            pid = descendant_named(self.controller.pid, CONTROLLER_COMM)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            self.controller.kill()
            self.controller.wait()
        if os.path.exists(os.path.join(self.pg_data, "postmaster.pid")):
            run(["runuser", "-u", "postgres", "--", f"{self.pg_bin}/pg_ctl", "-D", self.pg_data,
                 "-m", "immediate", "stop"], expect_ok=False)
        if os.path.isdir(self.store):
            self.buildah("rm", "--all")
        if os.environ.get("KEYFLEET_KEEP_IMAGE_TEST"):
            print(f"kept {self.work}")
        else:
            run(["rm", "-rf", "--one-file-system", self.work])
        self.watchdog.communicate("done\n", timeout=STEP_TIMEOUT)


def check_config(archive, version):
    config = archive.config
    check(config.get("os") == "linux" and config.get("architecture") == "amd64",
          f"platform {config.get('os')}/{config.get('architecture')}, not linux/amd64")
    c = config["config"]
    check(c.get("User") == f"{IMAGE_UID}:{IMAGE_UID}", f"User {c.get('User')!r}, not 10001:10001")
    check(c.get("Entrypoint") == ENTRYPOINT, f"Entrypoint {c.get('Entrypoint')}")
    check(c.get("Cmd") == COMMAND, f"Cmd {c.get('Cmd')}")
    check(sorted(c.get("ExposedPorts", {})) == ["7443/tcp", "9464/tcp"],
          f"ExposedPorts {sorted(c.get('ExposedPorts', {}))}")
    check(c.get("WorkingDir") == "/var/lib/keyfleet", f"WorkingDir {c.get('WorkingDir')!r}")
    labels = c.get("Labels", {})
    check(labels.get("org.opencontainers.image.title") == "keyfleet-controller",
          f"labels {labels}")
    labelled = labels.get("org.opencontainers.image.version")
    check(labelled == version, f"version label {labelled!r}, the binary says {version}")
    for key in ("description", "created"):
        value = labels.get(f"org.opencontainers.image.{key}", "")
        check(value not in ("", "unknown"), f"label org.opencontainers.image.{key} is {value!r}")
    # The commit, or "unknown" when built outside a git checkout.
    check(labels.get("org.opencontainers.image.revision"), "no org.opencontainers.image.revision")
    ref = archive.index_entry.get("annotations", {}).get("org.opencontainers.image.ref.name")
    check(ref == f"localhost/keyfleet-controller:{version}", f"archive's ref.name {ref!r}")
    check(len(archive.layers) == 1,
          f"{len(archive.layers)} layers, not 1 (FROM scratch, one COPY)")


def check_file_list(tree, controller):
    """Exactly the intended files, each symlink leading somewhere inside, root's but for the
    controller's state directory, no shell."""
    libraries = host_libraries(controller)
    expected_files = IMAGE_FILES | {os.path.realpath(p).lstrip("/") for p in libraries}
    expected_links = set()
    for path in libraries:
        host_symlinks_on_the_way(path, expected_links)
    files = {n for n, e in tree.entries.items() if e.isfile()}
    links = {n for n, e in tree.entries.items() if e.issym()}
    dirs = {n for n, e in tree.entries.items() if e.isdir()} - {"."}
    others = set(tree.entries) - files - links - dirs - {"."}
    check(files == expected_files, f"files not intended: {sorted(files - expected_files)}; "
          f"missing: {sorted(expected_files - files)}")
    check(links == expected_links, f"symlinks not intended: {sorted(links - expected_links)}; "
          f"missing: {sorted(expected_links - links)}")
    check(not others, f"entries neither file, directory nor symlink: {sorted(others)}")
    needed_dirs = set(EMPTY_DIRECTORIES)
    for name in files | links | set(EMPTY_DIRECTORIES):
        parent = os.path.dirname(name)
        while parent:
            needed_dirs.add(parent)
            parent = os.path.dirname(parent)
    check(dirs == needed_dirs, f"directories not intended: {sorted(dirs - needed_dirs)}; "
          f"missing: {sorted(needed_dirs - dirs)}")
    for path in libraries:
        check(tree.resolve(path) == os.path.realpath(path).lstrip("/"),
              f"{path} does not lead to {os.path.realpath(path)} inside the image")
    for shell in ("bin/sh", "usr/bin/sh", "bin/bash", "bin/dash", "bin/busybox"):
        check(tree.resolve(shell) is None, f"the image has {shell}")
    executables = {n for n in files if tree.entries[n].mode & 0o111}
    outside_lib = {n for n in executables if not n.startswith("usr/lib/")}
    check(outside_lib == {"usr/bin/keyfleet-controller"},
          f"executables outside usr/lib: {sorted(outside_lib)}")
    for name, entry in tree.entries.items():
        check(not entry.mode & 0o6000, f"{name} is setuid/setgid")
        if name in EMPTY_DIRECTORIES:
            continue
        check((entry.uid, entry.gid) == (0, 0), f"{name} is owned by {entry.uid}:{entry.gid}")
        check(entry.issym() or not entry.mode & 0o002, f"{name} is world-writable")
    for name, mode in EMPTY_DIRECTORIES.items():
        entry = tree.entries[name]
        check(entry.mode & 0o7777 == mode, f"{name} has mode {entry.mode:o}, not {mode:o}")
    state = tree.entries["var/lib/keyfleet"]
    check((state.uid, state.gid) == (IMAGE_UID, IMAGE_UID),
          f"var/lib/keyfleet is owned by {state.uid}:{state.gid}, not 10001:10001")
    return len(libraries)


def check_etc(layer_dir):
    with open(os.path.join(layer_dir, "etc/passwd")) as f:
        check(f"keyfleet:x:{IMAGE_UID}:{IMAGE_UID}:" in f.read(),
              "no keyfleet (10001) in /etc/passwd")
    with open(os.path.join(layer_dir, "etc/group")) as f:
        check(f"keyfleet:x:{IMAGE_UID}:" in f.read(), "no keyfleet (10001) in /etc/group")
    host_bundle = "/etc/ssl/certs/ca-certificates.crt"
    with open(host_bundle, "rb") as a, open(os.path.join(layer_dir, host_bundle[1:]), "rb") as b:
        check(a.read() == b.read(), "the image's CA bundle differs from this machine's")


def check_in_chroot(layer_dir, library_count, version):
    """The unpacked layer alone, no container runtime: a private mount and PID namespace, chroot,
    uid/gid 10001, an empty environment but PATH."""
    jail = [shutil.which("unshare"), "--mount", "--pid", "--fork", shutil.which("chroot"),
            f"--userspec={IMAGE_UID}:{IMAGE_UID}", layer_dir]
    env = {"PATH": "/usr/bin"}
    _, listing = run(jail + ["/lib64/ld-linux-x86-64.so.2", "--list", ENTRYPOINT[0]], env=env)
    resolved = [line for line in listing.splitlines()
                if "=> /" in line or line.strip().startswith("/")]
    check("not found" not in listing and len(resolved) == library_count,
          f"the loader inside the image resolves {len(resolved)} of {library_count}:\n{listing}")
    _, out = run(jail + [ENTRYPOINT[0], "--version"], env=env)
    check(out.strip() == version, f"--version in the image says {out.strip()!r}, not {version}")
    _, out = run(jail + [ENTRYPOINT[0], "init-ca", "--ca-dir", "/tmp/ca"], env=env)
    check("signing CA pin: sha256:" in out, f"init-ca printed no pin:\n{out}")
    key = os.stat(os.path.join(layer_dir, "tmp/ca/ca.key"))
    check(key.st_uid == IMAGE_UID and key.st_mode & 0o777 == 0o600,
          f"ca.key is owned by {key.st_uid} with mode {key.st_mode & 0o777:o}")


def http_get(port, path):
    """The status code of GET http://127.0.0.1:PORT/PATH."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())
        status_line = s.makefile("rb").readline().decode()
    return int(status_line.split()[1])


def descendant_named(pid, comm):
    """The first process under `pid` whose name is `comm` (the controller under buildah run)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError):
                continue
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            with open(f"/proc/{child}/comm") as f:
                if f.read().strip() == comm:
                    return child
        except OSError:
            continue
        todo.extend(children.get(child, []))
    return None


def wait_for_log(deployment, log_path, text, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path) as f:
            log = f.read()
        if text in log:
            return
        if deployment.controller.poll() is not None:
            raise Failure(f"the container exited ({deployment.controller.returncode}):\n{log}")
        time.sleep(0.2)
    with open(log_path) as f:
        raise Failure(f"no {text!r} within {timeout}s:\n{f.read()}")


def check_container(deployment, archive_path, archive, cli, metrics_port_configured):
    """The archive as buildah loads it, run as a container: serve, the CLI, SIGTERM."""
    container = "keyfleet-image-test"
    deployment.buildah("from", "--pull=never", "--name", container, f"oci-archive:{archive_path}")
    pg_port = deployment.start_postgres()
    port, metrics_port = free_port(), free_port()
    config = archive.config["config"]
    # No user in the URL: libpq asks getpwuid(10001), i.e. the image's /etc/passwd, for it.
    run_in_container = ["run", "--isolation", "chroot", "--network", "host",
                        "--env", f"KEYFLEET_DB=postgresql://127.0.0.1:{pg_port}/keyfleet",
                        container, "--", *config["Entrypoint"]]
    # As the chart's migrations Job does, before the replicas start.
    out = deployment.buildah(*run_in_container, "migrate", *config["Cmd"][1:])
    check("schema at version" in out and "applied 0 migration" not in out, f"migrate: {out}")
    argv = config["Cmd"] + ["--listen", f"127.0.0.1:{port}"]
    if metrics_port_configured:
        argv += ["--metrics-listen", f"127.0.0.1:{metrics_port}"]
    log_path = os.path.join(deployment.work, "controller.log")
    with open(log_path, "w") as log:
        deployment.controller = subprocess.Popen(
            deployment.buildah_argv(*run_in_container, *argv),
            stdout=log, stderr=subprocess.STDOUT, env=deployment.buildah_env)
    wait_for_log(deployment, log_path, f"serving on port {port}", STEP_TIMEOUT)

    mount = deployment.buildah("mount", container).strip()
    state = os.path.join(mount, "var/lib/keyfleet")
    for made in ("bootstrap.token", "ca/ca.key", "ca/ca.crt"):
        owner = os.stat(os.path.join(state, made)).st_uid
        check(owner == IMAGE_UID, f"/var/lib/keyfleet/{made} is owned by {owner}, not 10001")
    # The CLI trusts only files of its own user: copies of what the container made.
    token, ca = (os.path.join(deployment.work, n) for n in ("bootstrap.token", "ca.crt"))
    shutil.copyfile(os.path.join(state, "bootstrap.token"), token)
    os.chmod(token, 0o600)
    shutil.copyfile(os.path.join(state, "ca/ca.crt"), ca)
    keyfleet = [cli, "--controller", f"127.0.0.1:{port}", "--ca", ca, "--token-file", token]
    _, out = run(keyfleet + ["-o", "json", "whoami"])
    credential = json.loads(out)["credential"]
    check(credential["name"] == "bootstrap" and credential["role"] == "ROLE_ADMIN",
          f"whoami: {out}")
    run(keyfleet + ["principal", "add", "image-test"])
    _, out = run(keyfleet + ["-o", "json", "principal", "list"])
    check([p["name"] for p in json.loads(out)["principals"]] == ["image-test"],
          f"principal list: {out}")
    if metrics_port_configured:
        for path in ("/healthz", "/readyz", "/metrics"):
            status = http_get(metrics_port, path)
            check(status == 200, f"GET {path} on the metrics port: {status}")

    pid = descendant_named(deployment.controller.pid, CONTROLLER_COMM)
    check(pid is not None, "cannot find the controller process under buildah run")
    with open(f"/proc/{pid}/status") as f:
        check(f"Uid:\t{IMAGE_UID}\t" in f.read(),
              "the controller in the container is not uid 10001")
    cwd = os.readlink(f"/proc/{pid}/cwd")
    check(cwd.endswith("/rootfs/var/lib/keyfleet"), f"the controller runs in {cwd}")
    os.kill(pid, signal.SIGTERM)
    try:
        code = deployment.controller.wait(timeout=20)
    except subprocess.TimeoutExpired:
        raise Failure("the controller did not stop within 20 s of SIGTERM")
    with open(log_path) as f:
        log = f.read()
    check(code == 0 and "shutting down" in log, f"after SIGTERM: exit {code}\n{log}")


def main():
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} CONTROLLER_BINARY CLI_BINARY", file=sys.stderr)
        return 2
    controller, cli = (os.path.abspath(p) for p in sys.argv[1:])
    check(os.geteuid() == 0, "run as root: the image holds a directory owned by uid 10001, and "
          "the chroot and the container switch to that uid")
    for tool in ("buildah", "unshare", "chroot", "runuser", "ldd"):
        check(shutil.which(tool),
              f"{tool} is not installed (deploy/install-deps.sh installs buildah)")
    _, version = run([controller, "--version"])
    version = version.strip()
    deployment = Deployment()
    try:
        started = time.monotonic()
        archive_path = os.path.join(deployment.work, "keyfleet-controller.tar")
        run([os.path.join(REPO, "deploy/image/build-image.sh"), controller, archive_path],
            timeout=150)
        built = time.monotonic() - started

        archive = OciArchive(archive_path)
        check_config(archive, version)
        compressed, uncompressed = archive.layer(0)
        tree = LayerTree(uncompressed)
        library_count = check_file_list(tree, controller)
        unpacked = sum(e.size for e in tree.entries.values() if e.isfile())
        check(unpacked <= MAX_UNPACKED_BYTES,
              f"the image's files take {unpacked} bytes, more than {MAX_UNPACKED_BYTES}")

        layer_dir = os.path.join(deployment.work, "layer")
        os.makedirs(layer_dir)
        layer_tar = os.path.join(deployment.work, "layer.tar")
        with open(layer_tar, "wb") as f:
            f.write(uncompressed)
        run(["tar", "-xpf", layer_tar, "--numeric-owner", "-C", layer_dir])
        check_etc(layer_dir)
        with open(os.path.join(layer_dir, "etc/keyfleet/controller.yaml")) as f:
            metrics_port_configured = "metrics_listen:" in f.read()
        _, serve_help = run([controller, "serve", "--help"])
        check(metrics_port_configured == ("--metrics-listen" in serve_help),
              "the image's controller.yaml has metrics_listen if and only if the controller "
              f"knows it: {metrics_port_configured} in the config, the controller's help:\n"
              f"{serve_help}")
        check_in_chroot(layer_dir, library_count, version)

        check_container(deployment, archive_path, archive, cli, metrics_port_configured)
        print(f"image: {os.path.getsize(archive_path)} bytes archived, layer {len(compressed)} "
              f"bytes compressed, {unpacked} bytes of files ({len(tree.entries)} entries, "
              f"{library_count} libraries with the loader); built in {built:.1f}s, "
              f"whole test {time.monotonic() - started:.1f}s")
        if not metrics_port_configured:
            print("note: this controller has no metrics port yet: the image's config leaves "
                  "metrics_listen out and /healthz, /readyz, /metrics were not checked")
    except (Failure, ArchiveError) as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    finally:
        deployment.stop()
    print("PASS")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        sys.exit(1)
