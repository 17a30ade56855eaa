# Builds the dashboard: cmake -DNPM=<npm> -DSOURCE=<this folder> -DOUT=<output folder> -P build.cmake
# (the `dashboard` target of the top-level CMakeLists.txt). Type-checks, then bundles with Vite
# into OUT, which it empties first.
if(NOT EXISTS ${SOURCE}/node_modules/.bin/vite OR NOT EXISTS ${SOURCE}/node_modules/.bin/tsc)
  message(FATAL_ERROR "the dashboard's npm packages are not installed: run `make deps` (or `npm ci` in "
                      "${SOURCE}), or configure with -DTOLLGATE_BUILD_DASHBOARD=OFF to build without it")
endif()
execute_process(
  COMMAND ${NPM} run --silent build -- --outDir ${OUT} --emptyOutDir --logLevel warn
  WORKING_DIRECTORY ${SOURCE}
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "the dashboard did not build (npm run build in ${SOURCE} exited with ${result})")
endif()
