// Facts about the machine taking a capture (host name, kernel), recorded in every snapshot.
#pragma once

#include <string>

namespace bt {

std::string hostName();
std::string kernelDescription();  // "Linux 6.1.0-... #1 SMP ..."

}  // namespace bt
