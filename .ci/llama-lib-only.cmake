# Included by CMake after every project() call while pip builds llama-cpp-python (see the Makefile's CMAKE_ARGS).
# llama-cpp-python forces llama.cpp's `common` library on (a cache variable set with FORCE), although its
# Python bindings load only libllama and libggml*: common and its vendored HTTP and hash code are about half of
# the compile. A normal variable shadows that cache entry (policy CMP0126, CMake >= 3.21), so common is skipped.
set(LLAMA_BUILD_COMMON OFF)
