# Wipes and recreates the integration artifacts directory: cmake -DDIR=<dir> -P reset_artifacts.cmake
if(NOT DIR)
  message(FATAL_ERROR "reset_artifacts.cmake: pass -DDIR=<artifacts directory>")
endif()
file(REMOVE_RECURSE "${DIR}")
file(MAKE_DIRECTORY "${DIR}")
