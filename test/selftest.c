/* Helpers for test/e2e/skip_reporting.sh, which checks the harness itself:
 * a case that skips must make the runner exit 77 (ctest's "Not Run
 * (Skipped)"), one that passes 0 and one that fails 1. They are HELPERs,
 * so ctest and a run of every case leave them out. */
#include "test.h"

HELPER(selftest_skip) { SKIP("on purpose, for skip_reporting.sh"); }

HELPER(selftest_pass) { ASSERT_EQ(1 + 1, 2); }

HELPER(selftest_fail) { ASSERT_EQ(1 + 1, 3); }
