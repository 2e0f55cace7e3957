#!/usr/bin/python3
"""Runs a command under the seccomp filter systemd would give a unit, without systemd.

    unit_seccomp_exec.py UNIT_FILE -- COMMAND [ARG...]

Reads the unit's SystemCallFilter= lines (an allow-list and its ~ removals; groups expanded by
`systemd-analyze syscall-filter`), SystemCallErrorNumber=, RestrictAddressFamilies=,
MemoryDenyWriteExecute=, RestrictNamespaces= and RestrictSUIDSGID=, builds the equivalent
classic BPF program for x86-64 as systemd 252 does (denied calls fail with the error number;
clone3 with ENOSYS under RestrictNamespaces=, so glibc falls back to clone, whose flags are then
checked), sets no_new_privs, loads it and execs COMMAND. Other architectures and the x32 ABI
are refused (SystemCallArchitectures=native). Syscall numbers come from the kernel headers
(linux-libc-dev).
"""

import ctypes
import errno
import os
import re
import struct
import subprocess
import sys

UNISTD = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000
# Always allowed by systemd on top of an allow-list (systemd.exec(5), SystemCallFilter=).
IMPLICIT = {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn",
            "clock_gettime", "gettimeofday", "time", "nanosleep", "clock_nanosleep"}
FAMILIES = {"AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16,
            "AF_PACKET": 17}
CLONE_NEW_FLAGS = 0x7E020000  # CLONE_NEW{NS,CGROUP,UTS,IPC,USER,PID,NET}
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
S_ISUID_ISGID = 0o6000

# struct seccomp_data: nr (u32), arch (u32), instruction_pointer (u64), args[6] (u64 each).
OFF_NR, OFF_ARCH = 0, 4


def off_arg_low(i):
    return 16 + 8 * i  # little-endian: the low 32 bits come first


BPF_LD_W_ABS, BPF_JEQ_K, BPF_JSET_K, BPF_JGE_K, BPF_RET_K = 0x20, 0x15, 0x45, 0x35, 0x06
RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000


def unit_settings(path):
    settings = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", ";", "[")) and "=" in line:
                key, value = line.split("=", 1)
                settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def expand(name, seen=None):
    """Syscall names of a name or @group, nested groups resolved."""
    if not name.startswith("@"):
        return {name}
    seen = seen if seen is not None else set()
    if name in seen:
        return set()
    seen.add(name)
    out = subprocess.run(["systemd-analyze", "syscall-filter", name], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if line and not line.startswith("#"):
            names |= expand(line, seen)
    return names


def allowed_syscalls(filters):
    allow = None
    for value in filters:
        deny = value.startswith("~")
        names = set()
        for word in value.lstrip("~").split():
            names |= expand(word)
        if allow is None:
            if deny:
                sys.exit("unit_seccomp_exec: only allow-list filters are emulated")
            allow = expand("@default") | names
        elif deny:
            allow -= names
        else:
            allow |= names
    return (allow or set()) | IMPLICIT


def syscall_numbers():
    numbers = {}
    with open(UNISTD) as f:
        for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", f.read()):
            numbers[m.group(1)] = int(m.group(2))
    return numbers


class Program:
    def __init__(self):
        self.code = []

    def ins(self, op, jt, jf, k):
        self.code.append([op, jt, jf, k])

    def load(self, offset):
        self.ins(BPF_LD_W_ABS, 0, 0, offset)

    def ret(self, value):
        self.ins(BPF_RET_K, 0, 0, value)

    def pack(self):
        return b"".join(struct.pack("HBBI", *i) for i in self.code)


def build(settings, numbers):
    error = getattr(errno, (settings.get("SystemCallErrorNumber") or ["EPERM"])[-1])
    deny = RET_ERRNO | error
    allow = {numbers[n] for n in allowed_syscalls(settings.get("SystemCallFilter", []))
             if n in numbers}
    yes = lambda key: (settings.get(key) or ["no"])[-1] in ("yes", "true", "1")

    # Per-call argument checks: (syscall, [(arg, mask, must_be_zero)]) -> deny when set.
    arg_checks = []
    if yes("MemoryDenyWriteExecute"):
        arg_checks.append((numbers["mprotect"], 2, PROT_EXEC))
        arg_checks.append((numbers["pkey_mprotect"], 2, PROT_EXEC))
        arg_checks.append((numbers["shmat"], 2, SHM_EXEC))
    if yes("RestrictNamespaces"):
        arg_checks.append((numbers["clone"], 0, CLONE_NEW_FLAGS))
        arg_checks.append((numbers["unshare"], 0, CLONE_NEW_FLAGS))
        arg_checks.append((numbers["setns"], 1, CLONE_NEW_FLAGS))
    if yes("RestrictSUIDSGID"):
        arg_checks.append((numbers["chmod"], 1, S_ISUID_ISGID))
        arg_checks.append((numbers["fchmod"], 1, S_ISUID_ISGID))
        arg_checks.append((numbers["fchmodat"], 2, S_ISUID_ISGID))

    families = None
    if settings.get("RestrictAddressFamilies"):
        families = {FAMILIES[f] for v in settings["RestrictAddressFamilies"] for f in v.split()}

    p = Program()
    p.load(OFF_ARCH)
    p.ins(BPF_JEQ_K, 1, 0, AUDIT_ARCH_X86_64)
    p.ret(RET_KILL_PROCESS)
    p.load(OFF_NR)
    p.ins(BPF_JGE_K, 0, 1, X32_SYSCALL_BIT)
    p.ret(deny)
    if yes("RestrictNamespaces"):
        p.ins(BPF_JEQ_K, 0, 1, numbers["clone3"])
        p.ret(RET_ERRNO | errno.ENOSYS)
    for nr, arg, mask in arg_checks:
        # nr matches: load the argument, deny when any masked bit is set, reload nr.
        p.ins(BPF_JEQ_K, 0, 4, nr)
        p.load(off_arg_low(arg))
        p.ins(BPF_JSET_K, 0, 1, mask)
        p.ret(deny)
        p.load(OFF_NR)
    if yes("MemoryDenyWriteExecute"):
        p.ins(BPF_JEQ_K, 0, 5, numbers["mmap"])
        p.load(off_arg_low(2))
        p.ins(BPF_JSET_K, 0, 2, PROT_EXEC)
        p.ins(BPF_JSET_K, 0, 1, PROT_WRITE)
        p.ret(deny)
        p.load(OFF_NR)
    if families is not None:
        p.ins(BPF_JEQ_K, 0, 2 + len(families) + 1, numbers["socket"])
        p.load(off_arg_low(0))
        for i, family in enumerate(sorted(families)):
            # Jump to the ALLOW below the EAFNOSUPPORT return.
            p.ins(BPF_JEQ_K, len(families) - i, 0, family)
        p.ret(RET_ERRNO | errno.EAFNOSUPPORT)
        p.ret(RET_ALLOW)
    for nr in sorted(allow):
        p.ins(BPF_JEQ_K, 0, 1, nr)
        p.ret(RET_ALLOW)
    p.ret(deny)
    return p


def load(program):
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    raw = program.pack()
    buf = ctypes.create_string_buffer(raw, len(raw))
    prog = SockFprog(len(program.code), ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        sys.exit("unit_seccomp_exec: no_new_privs: " + os.strerror(ctypes.get_errno()))
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        sys.exit("unit_seccomp_exec: seccomp: " + os.strerror(ctypes.get_errno()))


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: unit_seccomp_exec.py UNIT_FILE -- COMMAND [ARG...]")
    settings = unit_settings(sys.argv[1])
    if not settings.get("SystemCallFilter"):
        sys.exit("unit_seccomp_exec: the unit has no SystemCallFilter=")
    program = build(settings, syscall_numbers())
    command = sys.argv[3:]
    load(program)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
