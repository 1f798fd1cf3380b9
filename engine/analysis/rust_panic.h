// Rust panics: which frames are the panic machinery, and the panic's location and message read
// from the crashed thread's stack by layout (the standard library has line tables only, no
// variable DWARF, so PanicHookInfo's fields cannot be read by name).
//
// When the panic hook has run (the default hook prints the message before a panic=abort runtime
// or an aborting hook ends the process), the frame of std::panicking's hook caller still holds a
// PanicHookInfo: the payload as `&dyn Any` (data pointer, vtable pointer), `&Location`, two bools
// (before Rust 1.81 a PanicInfo: the payload, `Option<&fmt::Arguments>`, `&Location`, a bool).
// core::panic::Location is {file: &str, line: u32, col: u32} (24 bytes, static data of a module).
// The payload is a `&'static str` (a static message) or a `String` (a formatted one, filled
// before the hook ran). Every word is checked before it is believed: a Location's file must be
// readable UTF-8 ending in ".rs" with a plausible line and column, the payload's vtable must look
// like one (drop_in_place null or code, size, align, type_id code) and the string must be
// readable UTF-8 without NUL bytes; what is not validated gives no message (never a guess).
#pragma once

#include "target/target.h"

#include <llvm/ADT/StringRef.h>

#include <cstdint>
#include <optional>
#include <string>

namespace bt {

struct RustPanic {
  uint64_t at = 0;  // the stack address of the PanicHookInfo's &Location word
  std::string file;
  uint32_t line = 0, column = 0;
  bool hasMessage = false;  // the payload is a validated &str or String
  std::string message;      // at most kMaxRustPanicMessage bytes (cut on a character boundary)
};

constexpr size_t kMaxRustPanicMessage = 4096;
constexpr uint64_t kRustPanicScanBytes = 64 * 1024;  // of the crashed thread's stack, from SP

// A frame of the code that raises a panic: core::panicking::*, std::panicking::* (not the
// catch_unwind / try frames every Rust thread's outer frames have), rust_panic,
// __rust_start_panic, rust_begin_unwind, the cold helpers of unwrap()/expect()/slicing.
bool isRustPanicFrame(llvm::StringRef function);
// A function of the Rust standard library (core::, alloc::, std::, or an impl of one of their
// types: `<alloc::vec::Vec<T> as ...>`), by name.
bool isRustStdFunction(llvm::StringRef function);

// The core::panic::Location at `addr` (file, line, column; no message), or nullopt.
std::optional<RustPanic> readRustLocation(Target &target, uint64_t addr);
// The text of a panic payload `&dyn Any` = (data, vtable) when it is a &str or a String.
std::optional<std::string> readRustPanicPayload(Target &target, uint64_t data, uint64_t vtable);
// The innermost PanicHookInfo (or older PanicInfo) in [sp, sp + maxBytes) of the stack: a word
// pointing to a valid Location with a valid payload pair next to it, or one word before it in a
// PanicInfo (the message only when the payload decodes).
std::optional<RustPanic> findRustPanic(Target &target, uint64_t sp,
                                       uint64_t maxBytes = kRustPanicScanBytes);

}  // namespace bt
