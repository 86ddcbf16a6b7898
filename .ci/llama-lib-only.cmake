# Included by CMake after every project() call while pip builds llama-cpp-python (see the Makefile's CMAKE_ARGS).
# llama-cpp-python forces llama.cpp's `common` library on (a cache variable set with FORCE), although its
# Python bindings load only libllama and libggml*: common and its vendored HTTP and hash code are about half of
# the compile. A normal variable shadows that cache entry (policy CMP0126, CMake >= 3.21), so common is skipped.
set(LLAMA_BUILD_COMMON OFF)

# libllama (model loading, graph building, sampling, the graph builders of ~150 architectures) is not where
# the time goes at inference; ggml's kernels are, and they keep -O3. At -O1 libllama compiles in 128 s of CPU
# instead of 175 s (the whole build: 2 min 26 s instead of 2 min 58 s on 2 cores), and Gemma 3 270M read
# prompts and wrote tokens as fast as with -O3 (within the 5% noise of five runs each). The deferred call runs
# when llama.cpp's top directory is done, so the `llama` target exists; its -O1 comes after the -O3 of the
# release flags on the command line, and the last -O wins.
if(PROJECT_NAME STREQUAL "llama.cpp")
  function(_pactjury_libllama_o1)
    if(TARGET llama)
      target_compile_options(llama PRIVATE -O1)
    endif()
  endfunction()
  cmake_language(DEFER DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" CALL _pactjury_libllama_o1)
endif()
