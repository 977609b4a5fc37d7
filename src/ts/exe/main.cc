// The tessera executable: the only code no test links (Envoy's source/exe).
#include <iostream>
#include <string>
#include <vector>

#include "ts/server/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return ts::server::RunCommand(args, std::cin, std::cout, std::cerr);
}
