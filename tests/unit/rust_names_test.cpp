// Rust function names from the symbol table (no DWARF for the pc): both manglings demangled,
// the hash dropped, and C/C++ names untouched. The symbols are real ones from
// tests/fixtures/rust/crash_rs.rs built by rustc 1.95 (the crate's own functions are
// legacy-mangled, the prebuilt standard library is v0).
//
// gdb 13 itself keeps the legacy hash ("crash_rs::main::heeab13093d41f330") and the v0 crate
// disambiguators ("std[e28293b1aa0f68bd]::process::abort") for such frames (its demangling is
// verbose); bt drops both, as issue 19 asks. Frames with DWARF are named from the DWARF by both
// (tests/e2e/test_rust.py).
#include "symbols/gdb_names.h"

#include <gtest/gtest.h>

using namespace bt;

TEST(RustNames, LegacyDemangledWithoutHash) {
  EXPECT_EQ(rustSymbolName("_ZN8crash_rs4main17heeab13093d41f330E"), "crash_rs::main");
  // Escapes decoded as libiberty does: $LT$ $GT$ $u20$ $C$ $LP$ $RP$ "..", "_$" prefix.
  EXPECT_EQ(rustSymbolName("_ZN52_$LT$crash_rs..Indexer$u20$as$u20$crash_rs..Step$GT$4step17hdf5fceeb4f07de20E"),
            "<crash_rs::Indexer as crash_rs::Step>::step");
  EXPECT_EQ(rustSymbolName("_ZN3std4sync6poison5mutex14Mutex$LT$T$GT$4lock17hd242c9fd95f288f2E"),
            "std::sync::poison::mutex::Mutex<T>::lock");
  EXPECT_EQ(rustSymbolName("_ZN4core3ptr160drop_in_place$LT$std..thread..lifecycle..spawn_unchecked$LT$"
                           "crash_rs..start_threads..$u7b$$u7b$closure$u7d$$u7d$$C$$LP$$RP$$GT$.."
                           "$u7b$$u7b$closure$u7d$$u7d$$GT$17h4a697172eb801b24E"),
            "core::ptr::drop_in_place<std::thread::lifecycle::spawn_unchecked<crash_rs::start_threads::"
            "{{closure}},()>::{{closure}}>");
  // A single "." stays (libiberty turns only ".." into "::").
  EXPECT_EQ(rustSymbolName("_ZN4core3ops8function6FnOnce40call_once$u7b$$u7b$vtable.shim$u7d$$u7d$17h0985753fc593c466E"),
            "core::ops::function::FnOnce::call_once{{vtable.shim}}");
  // LLVM's ".llvm.NNN" suffix after the mangled name is not part of the name.
  EXPECT_EQ(rustSymbolName("_ZN3std2rt10lang_start28_$u7b$$u7b$closure$u7d$$u7d$17h67100b27434c3b5aE.llvm.5148482509530895031"),
            "std::rt::lang_start::{{closure}}");
  // displayFunctionName (the symbolizer's symbol-table path) gives the same.
  EXPECT_EQ(displayFunctionName("_ZN8crash_rs4main17heeab13093d41f330E"), "crash_rs::main");
}

TEST(RustNames, V0DemangledWithoutCrateHashes) {
  EXPECT_EQ(rustSymbolName("_RNvXs8_NtNtNtCsgEmfK2I1SDS_4core3fmt3num3impmNtB9_7Display3fmt"),
            "<u32 as core::fmt::Display>::fmt");
  EXPECT_EQ(rustSymbolName("_RINvMNtCsgEmfK2I1SDS_4core3stre18trim_start_matchesReECsgY6Mt91CT9J_14rustc_demangle"),
            "<str>::trim_start_matches::<&str>");
  EXPECT_EQ(displayFunctionName("_RNvXNtNtNtCsgEmfK2I1SDS_4core3fmt3num3imphNtB6_7Display3fmt.llvm.123"),
            "<u8 as core::fmt::Display>::fmt");
}

TEST(RustNames, CAndCxxNamesUnchanged) {
  // Not Rust: rustSymbolName says so and displayFunctionName demangles as C++ (or not at all).
  for (const char *s : {"main", "_ZN2ns3fooEv", "_ZN4tmpl11AccumulatorIlE3addEl", "_Rgarbage",
                        "_ZN3foo17h0123456789abcdeXE", "_ZN3foo3barE", "_ZN3foo16h0123456789abcdefE"})
    EXPECT_EQ(rustSymbolName(s), "") << s;
  EXPECT_EQ(displayFunctionName("_ZN2ns3fooEv"), "ns::foo");
  EXPECT_EQ(displayFunctionName("_ZN4tmpl11AccumulatorIlE3addEl"), "tmpl::Accumulator<long>::add");
  EXPECT_EQ(displayFunctionName("_Rgarbage"), "_Rgarbage");
  // A C++ data-like nested name is still the C++ demangler's.
  EXPECT_EQ(displayFunctionName("_ZN3foo3barE"), "foo::bar");
  // A C++ function whose last component merely looks like a hash keeps its parameters' absence
  // rule (a function: params after the 'E'), so it is not Rust.
  EXPECT_EQ(displayFunctionName("_ZN3foo17h0123456789abcdefEv"), "foo::h0123456789abcdef");
}
