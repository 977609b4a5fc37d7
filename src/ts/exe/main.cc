// The tessera executable: the only code no test links (Envoy's source/exe).
#include <malloc.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "ts/server/commands.h"

int main(int argc, char** argv) {
  // glibc gives each thread that contends for malloc a new arena, up to 8 per core, and arenas
  // keep what they grew: with 32 request threads that was +20 MB of resident memory per load
  // run (103 MB after the benchmark's six scenarios; 60 MB with this bound, CPU unchanged).
  mallopt(M_ARENA_MAX, static_cast<int>(std::max(2u, std::thread::hardware_concurrency())));
  std::vector<std::string> args(argv + 1, argv + argc);
  return ts::server::RunCommand(args, std::cin, std::cout, std::cerr, argv[0]);
}
