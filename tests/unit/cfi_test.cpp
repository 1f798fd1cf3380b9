#include "unwind/cfi.h"
#include <gtest/gtest.h>
TEST(Placeholder, Builds) { SUCCEED(); }
