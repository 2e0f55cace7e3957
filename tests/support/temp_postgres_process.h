// What the private PostgreSQL servers of tests (TempPostgres, TempPostgresStandby) share: where
// the server's programs are, running them as the `postgres` user when the tests run as root,
// dying loudly with the server log when one fails, and a watchdog that stops a server and removes
// its directory if the test process dies without doing it (killed by a ctest timeout, say).
#pragma once

#include <string>

namespace keyfleet::testing {

// The newest /usr/lib/postgresql/N/bin holding initdb, else the directory of initdb in PATH;
// "" when there is none.
std::string FindPostgresBinDir();

// PostgreSQL refuses to run as root: when this process is root, hands `dir` to the `postgres`
// user and returns "runuser -u postgres -- " to put before every server command; "" otherwise.
// Aborts (PostgresDie) when running as root and there is no `postgres` user.
std::string PostgresRunAs(const std::string& dir);

// Prints "`who`: `message`" and the log at `log_path` (when it can be read) to stderr, then
// aborts: a test whose server cannot start fails loudly, never skips.
[[noreturn]] void PostgresDie(const std::string& who, const std::string& message,
                              const std::string& log_path);

// Runs `command` through the shell, prefixed with `run_as`; returns its standard output. When
// `must_succeed` and it fails, dies (PostgresDie) with the command, its output and the log.
std::string RunPostgresCommand(const std::string& who, const std::string& run_as,
                               const std::string& command, bool must_succeed,
                               const std::string& log_path);

// Starts a process that waits until this one ends, however it ends (killed with SIGKILL, its
// whole process tree killed by a ctest timeout), then runs `cleanup` through /bin/sh (stop the
// server immediately, remove its directory). It lives in its own session, detached from this
// process's tree, and notices the end as the end of a pipe whose write end only this process
// holds (close-on-exec). Returns that write end, for StopPostgresWatchdog.
int StartPostgresWatchdog(const std::string& cleanup);
// Ends the watchdog without running its cleanup (the owner cleaned up). Nothing for < 0.
void StopPostgresWatchdog(int watchdog);

}  // namespace keyfleet::testing
