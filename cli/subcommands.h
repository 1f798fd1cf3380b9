// The commands of `bt`: `bt PID|CORE` (backtraces), `bt snapshot` (capture a live process or a core into a
// .btsnap file), `bt coredump` (the kernel's core_pattern pipe handler), `bt show` (print a
// snapshot like bt prints a process, without the binaries or debug files) and `bt export` (write a
// core, snapshot or minidump as a minidump); `bt symbols` writes Breakpad .sym files of binaries,
// `bt upload` sends kept snapshots or minidumps to a crash server.
#pragma once

namespace bt {

int backtraceMain(int argc, char **argv);  // `bt [OPTIONS] PID|CORE|MINIDUMP`; argv[0] is "bt"
int snapshotMain(int argc, char **argv);  // argv[0] is "snapshot"
int coredumpMain(int argc, char **argv);  // argv[0] is "coredump"
int showMain(int argc, char **argv);      // argv[0] is "show"
int exportMain(int argc, char **argv);    // argv[0] is "export"
int symbolsMain(int argc, char **argv);   // argv[0] is "symbols": Breakpad .sym files of binaries
int uploadMain(int argc, char **argv);    // argv[0] is "upload": send kept snapshots to a crash server

}  // namespace bt
