"""A real keyfleet deployment for the dashboard tests, started from the build directory's
binaries the way deploy/quickstart.sh does it:

- a private PostgreSQL (initdb/pg_ctl as the postgres user, Unix socket only, fsync off);
- the controller's CA (`keyfleet-controller init-ca`) and the controller on free loopback ports,
  gRPC and the dashboard (`--dashboard-listen 127.0.0.1:0`), with the bootstrap admin token;
- three agents on sandbox roots (own etc/passwd and homes for alice, bob, deploy), each enrolled
  with a join token that gives it its labels: web-1, db-1, dev-1, all also `fleet=demo`;
- principals alice, bob and mallory (whose key comment is hostile HTML), their ed25519 keys,
  grants by label (alice on all three hosts, bob and mallory on the web hosts), an operator and
  an auditor token; then it waits for every host to converge.

Everything it starts is stopped and removed by stop() (the tests call it in `finally`), or, if
the test process dies first (a ctest timeout), by a watchdog shell in its own session. Every wait
is bounded. Needs root (the sandbox homes belong to other uids, PostgreSQL runs as postgres)."""

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time

HOSTILE_COMMENT = "<script>alert(1)</script><img src=x onerror=alert(2)>"
HOSTS = {  # name -> labels
    "web-1": "env=prod,role=web,fleet=demo",
    "db-1": "env=prod,role=db,fleet=demo",
    "dev-1": "env=dev,role=web,fleet=demo",
}
ACCOUNTS = {"alice": 2001, "bob": 2002, "deploy": 2003}
STEP_TIMEOUT = 60  # seconds for any one command
START_TIMEOUT = 30  # seconds for a daemon to say it listens
CONVERGE_TIMEOUT = 40  # seconds for the fleet to apply a change


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run(argv, timeout=STEP_TIMEOUT, env=None, stdin=None):
    """Runs argv; returns its stdout; raises Failure (with stderr) on a non-zero exit."""
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, env=env,
                              text=True)
    except subprocess.TimeoutExpired:
        raise Failure(f"timed out after {timeout}s: {shlex.join(argv)}")
    except OSError as error:
        raise Failure(f"cannot run {shlex.join(argv)}: {error}")
    if done.returncode != 0:
        raise Failure(f"exit {done.returncode}: {shlex.join(argv)}\n{done.stdout}{done.stderr}")
    return done.stdout


def wait_for(what, predicate, timeout, interval=0.2):
    """Calls predicate() until it returns something true (returned) or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise Failure(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def ssh_fingerprint(public_key_line):
    """SHA256:… of an OpenSSH public key line, as ssh-keygen -l prints it."""
    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def binaries_from_argv(argv, usage):
    """(controller, cli, agent) from argv[1:4]; exits with `usage` otherwise."""
    if len(argv) < 4:
        raise SystemExit(usage)
    return argv[1], argv[2], argv[3]


class Deployment:
    def __init__(self, controller_bin, cli_bin, agent_bin):
        self.controller_bin = os.path.abspath(controller_bin)
        self.cli_bin = os.path.abspath(cli_bin)
        self.agent_bin = os.path.abspath(agent_bin)
        for binary in (self.controller_bin, self.cli_bin, self.agent_bin):
            check(os.access(binary, os.X_OK), f"{binary} is not built")
        check(os.geteuid() == 0, "the dashboard tests run as root (sandbox homes, PostgreSQL)")
        self.work = tempfile.mkdtemp(prefix="keyfleet-dashboard-test.")
        os.chmod(self.work, 0o755)  # the postgres user reaches its directory inside
        self.pg_bin = self._postgres_bin_dir()
        self.pg_data = os.path.join(self.work, "pg", "data")
        self.processes = []  # Popen of everything started, stopped in reverse order
        self.keys = {}  # name -> {"file", "line", "fingerprint"}
        self.tokens = {}  # "admin" | "operator" | "auditor" -> token file
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KEYFLEET_")}
        # If this process dies without stop(), the watchdog (its own session, so a ctest kill
        # of our process group does not take it along) kills whatever still runs with the work
        # directory on its command line (controller, agents, chromium, chromedriver), stops
        # PostgreSQL and removes the directory.
        # The path reaches the shell through the environment, so that its own command line
        # does not match.
        cleanup = (
            f'runuser -u postgres -- {self.pg_bin}/pg_ctl -D "$W/pg/data" -m immediate stop; '
            'for p in /proc/[0-9]*; do [ "${p#/proc/}" = $$ ] && continue; '
            'tr "\\0" " " <"$p/cmdline" 2>/dev/null | grep -qF -- "$W" && '
            'kill -KILL "${p#/proc/}"; done; rm -rf --one-file-system "$W"')
        self.watchdog = subprocess.Popen(
            ["sh", "-c", f'read line; [ "$line" = done ] || {{ {cleanup}; }}'],
            env={"W": self.work, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, text=True)

    @staticmethod
    def _postgres_bin_dir():
        versions = sorted((d for d in os.listdir("/usr/lib/postgresql") if d.isdigit()), key=int)
        for version in reversed(versions):
            if os.access(f"/usr/lib/postgresql/{version}/bin/initdb", os.X_OK):
                return f"/usr/lib/postgresql/{version}/bin"
        raise Failure("no /usr/lib/postgresql/N/bin/initdb: install postgresql")

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    # -- starting -------------------------------------------------------------------------------

    def start(self):
        """Everything in the module docstring; returns self."""
        self._start_postgres()
        run([self.controller_bin, "init-ca", "--ca-dir", self.path("ca")], env=self.env)
        self.ca_file = self.path("ca", "ca.crt")
        self._start_controller()
        for name, labels in HOSTS.items():
            self._start_agent(name, labels)
        self._populate()
        self.wait_converged()
        return self

    def _start_postgres(self):
        pg = self.path("pg")
        os.makedirs(pg)
        shutil.chown(pg, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
        run(as_postgres + [f"{self.pg_bin}/initdb", "-D", self.pg_data, "-U", "keyfleet",
                           "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        log = os.path.join(pg, "server.log")
        try:
            run(as_postgres + [f"{self.pg_bin}/pg_ctl", "-D", self.pg_data, "-l", log, "-w",
                               "-t", "60", "-o", f"-c listen_addresses='' -k {pg} -c fsync=off",
                               "start"], timeout=70)
        except Failure as failure:
            raise Failure(f"{failure}\nPostgreSQL's log:\n{self._read(log)}")
        self.db = f"host={pg} port=5432 user=keyfleet dbname=postgres"

    def _spawn(self, argv, log_name):
        log = open(self.path(log_name), "w")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=self.env)
        log.close()
        self.processes.append(proc)
        return proc

    def _start_controller(self):
        self.admin_token = self.path("admin.token")
        proc = self._spawn([self.controller_bin, "--db", self.db, "--listen", "127.0.0.1:0",
                            "--ca-dir", self.path("ca"), "--tls-name", "127.0.0.1",
                            "--bootstrap-token-file", self.admin_token,
                            "--dashboard-listen", "127.0.0.1:0", "--metrics-listen", "off"],
                           "controller.log")
        log = self.path("controller.log")

        def ports():
            check(proc.poll() is None,
                  f"the controller exited ({proc.returncode}):\n{self._read(log)}")
            text = self._read(log)
            grpc = re.search(r"serving on port (\d+)", text)
            web = re.search(r"dashboard on https://[^ \"]*:(\d+)/", text)
            return grpc and web and (int(grpc.group(1)), int(web.group(1)))

        try:
            self.grpc_port, self.dashboard_port = wait_for(
                "the controller's 'serving on port' and 'dashboard on https://…' log lines",
                ports, START_TIMEOUT)
        except Failure as failure:
            raise Failure(f"{failure}\ncontroller log:\n{self._read(log)}")
        self.url = f"https://127.0.0.1:{self.dashboard_port}"
        self.env.update(KEYFLEET_CONTROLLER=f"127.0.0.1:{self.grpc_port}",
                        KEYFLEET_CA=self.ca_file, KEYFLEET_TOKEN_FILE=self.admin_token)
        self.tokens["admin"] = self.admin_token

    def cli(self, *args, token=None, stdin=None):
        """The keyfleet CLI as admin (or with the token file of `token`); returns stdout."""
        argv = [self.cli_bin]
        if token:
            argv += ["--token-file", self.tokens[token]]
        return run(argv + list(args), env=self.env, stdin=stdin)

    def cli_json(self, *args):
        return json.loads(self.cli("-o", "json", *args))

    def _start_agent(self, name, labels):
        root = self.path("hosts", name)
        os.makedirs(os.path.join(root, "etc"))
        with open(os.path.join(root, "etc", "passwd"), "w") as f:
            f.write("root:x:0:0:root:/root:/bin/sh\n")
            for account, uid in ACCOUNTS.items():
                f.write(f"{account}:x:{uid}:{uid}::/home/{account}:/bin/sh\n")
        for account, uid in ACCOUNTS.items():
            home = os.path.join(root, "home", account)
            os.makedirs(home)
            os.chown(home, uid, uid)
        join = self.cli_json("host", "token", "create", "--hostname", name, "--labels", labels,
                             "--ttl", "10m")
        run([self.agent_bin, "enroll", "--controller", self.env["KEYFLEET_CONTROLLER"],
             "--token-file", "-", "--ca-hash", join["ca_pin"], "--tls-dir",
             os.path.join(root, "tls")], env=self.env, stdin=join["token"] + "\n")
        self._spawn([self.agent_bin, "run", "--controller", self.env["KEYFLEET_CONTROLLER"],
                     "--tls-dir", os.path.join(root, "tls"), "--root", root, "--cache",
                     os.path.join(root, "agent-cache"), "--recheck-interval", "2s",
                     "--log-level", "warn"], f"agent-{name}.log")

    def _make_key(self, name, comment):
        file = self.path("keys", name)
        os.makedirs(os.path.dirname(file), exist_ok=True)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", file])
        line = self._read(file + ".pub").strip()
        self.keys[name] = {"file": file + ".pub", "line": line,
                           "fingerprint": ssh_fingerprint(line)}

    def _populate(self):
        self.cli("principal", "add", "alice", "--email", "alice@example.com")
        self.cli("principal", "add", "bob", "--email", "bob@example.com")
        self.cli("principal", "add", "mallory", "--email", "mallory@example.com")
        self._make_key("alice", "alice@laptop")
        self._make_key("bob", "bob@desktop")
        self._make_key("mallory", HOSTILE_COMMENT)
        self.cli("key", "add", "alice", self.keys["alice"]["file"], "--label", "laptop")
        self.cli("key", "add", "bob", self.keys["bob"]["file"], "--label", "desktop")
        self.cli("key", "add", "mallory", self.keys["mallory"]["file"], "--label", "workstation")
        self.cli("grant", "add", "alice", "--hosts", "fleet=demo", "--account", "alice")
        self.cli("grant", "add", "bob", "--hosts", "role=web", "--account", "bob")
        self.cli("grant", "add", "mallory", "--hosts", "role=web", "--account", "deploy")
        for role, name in (("operator", "ops"), ("auditor", "audit")):
            token_file = self.path(f"{role}.token")
            token = self.cli("token", "create", "--name", name, "--role", role).strip()
            check(token.startswith("kfat_"), f"`keyfleet token create` printed {token!r}")
            fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
            self.tokens[role] = token_file

    def token(self, role):
        return self._read(self.tokens[role]).strip()

    def wait_converged(self, timeout=CONVERGE_TIMEOUT):
        def converged():
            hosts = self.cli_json("host", "list").get("hosts", [])
            return len(hosts) == len(HOSTS) and all(h.get("converged") for h in hosts)

        wait_for(f"all {len(HOSTS)} hosts to converge", converged, timeout, interval=0.3)

    def authorized_keys(self, host, account):
        """The text of HOST's ~ACCOUNT/.ssh/authorized_keys ('' when there is none)."""
        return self._read(self.path("hosts", host, "home", account, ".ssh", "authorized_keys"))

    # -- stopping -------------------------------------------------------------------------------

    def logs(self):
        """Every log the deployment wrote, for a failure message."""
        out = []
        for name in sorted(os.listdir(self.work)):
            if name.endswith(".log"):
                out.append(f"--- {name} (last 40 lines)\n" +
                           "\n".join(self._read(self.path(name)).splitlines()[-40:]))
        return "\n".join(out)

    def stop(self):
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if os.path.exists(os.path.join(self.pg_data, "postmaster.pid")):
            subprocess.run(["runuser", "-u", "postgres", "--", f"{self.pg_bin}/pg_ctl", "-D",
                            self.pg_data, "-m", "fast", "-w", "-t", "30", "stop"],
                           capture_output=True, timeout=40)
        if os.environ.get("KEYFLEET_KEEP_DASHBOARD_TEST"):
            print(f"kept {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)
        try:
            self.watchdog.communicate("done\n", timeout=10)
        except (subprocess.TimeoutExpired, BrokenPipeError):
            pass

    @staticmethod
    def _read(path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""
