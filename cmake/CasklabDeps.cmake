# Finds each Debian-packaged dependency with pkg-config and fails configure
# with the name of the Debian package to install (scripts/deps installs them).
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: install the Debian package 'pkg-config' "
                      "(or run scripts/deps)")
endif()
find_package(Threads REQUIRED)

# casklab_require(<prefix> <pkg-config module> <Debian package>)
# defines the imported target PkgConfig::<prefix>.
function(casklab_require prefix module debpkg)
  pkg_check_modules(${prefix} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${prefix}_FOUND)
    message(FATAL_ERROR "casklab needs ${module} (pkg-config): install the Debian "
                        "package '${debpkg}' (or run scripts/deps)")
  endif()
endfunction()

casklab_require(XXHASH libxxhash libxxhash-dev)
casklab_require(CUNIT cunit libcunit1-dev)
casklab_require(LIBUV libuv libuv1-dev)
casklab_require(HIREDIS hiredis libhiredis-dev)
