// Default runtime options of the sanitizer builds (TOLLGATE_SANITIZE, `make test`), linked
// into every executable of such a build: the unit tests, the tollgate binary that the integration
// tests start, and whatever else runs it by hand. Baked in rather than set per test because
// gtest_discover_tests (CMake 3.25) cannot give its tests an ENVIRONMENT of more than one variable;
// ASAN_OPTIONS, UBSAN_OPTIONS, LSAN_OPTIONS and TSAN_OPTIONS still override them for a local run.
//
// Every report must fail the run: ASan and UBSan stop at the first one (abort_on_error: the exit
// is a SIGABRT that no caller mistakes for a clean one), LeakSanitizer checks at a normal exit
// (for the server: after SIGTERM), and ThreadSanitizer exits with code 66 after reporting. The
// suppression files next to this one hold the third-party reports that are not tollgate's, each
// with its reason.

#ifndef TOLLGATE_SANITIZER_DIR
#error "TOLLGATE_SANITIZER_DIR must name tests/sanitizers"
#endif

#define TOLLGATE_EXPORT extern "C" __attribute__((visibility("default"), used))

// verify_asan_link_order=0: the integration tests that set the server's clock preload
// libfaketime, which then comes before the ASan runtime; it only wraps the time functions.
TOLLGATE_EXPORT const char* __asan_default_options() {
  return "halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1"
         ":check_initialization_order=1:strict_init_order=1:verify_asan_link_order=0";
}

TOLLGATE_EXPORT const char* __lsan_default_options() {
  return "suppressions=" TOLLGATE_SANITIZER_DIR "/lsan.supp";
}

TOLLGATE_EXPORT const char* __ubsan_default_options() {
  return "print_stacktrace=1:halt_on_error=1:suppressions=" TOLLGATE_SANITIZER_DIR "/ubsan.supp";
}

TOLLGATE_EXPORT const char* __tsan_default_options() {
  return "second_deadlock_stack=1:suppressions=" TOLLGATE_SANITIZER_DIR "/tsan.supp";
}
