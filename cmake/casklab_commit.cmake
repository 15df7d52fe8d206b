# cmake -DSRC=<source dir> -DOUT=<header> -P casklab_commit.cmake
# Writes the commit the build is made from (git describe, "-dirty" when the
# tree has uncommitted changes) as CASKLAB_BUILD_COMMIT into OUT, touching
# OUT only when it changes so that an unchanged tree rebuilds nothing. Run
# at every build by the casklab_commit target (bench/CMakeLists.txt): the
# metadata of `casklab bench` then names the binary's commit, not whatever
# the source tree holds when the binary runs.
execute_process(COMMAND git -C "${SRC}" describe --always --dirty --abbrev=12
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE
                ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
endif()
set(content "#define CASKLAB_BUILD_COMMIT \"${commit}\"\n")
set(old "")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT old STREQUAL content)
  file(WRITE "${OUT}" "${content}")
endif()
