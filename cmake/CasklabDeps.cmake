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

# casklab_require_lib(<prefix> <header> <library> <Debian package>): for
# packages that ship no pkg-config file (LevelDB); defines the imported
# target Casklab::<prefix>.
function(casklab_require_lib prefix header library debpkg)
  find_path(${prefix}_INCLUDE_DIR ${header})
  find_library(${prefix}_LIBRARY ${library})
  if(NOT ${prefix}_INCLUDE_DIR OR NOT ${prefix}_LIBRARY)
    message(FATAL_ERROR "casklab needs ${header} and lib${library}: install the "
                        "Debian package '${debpkg}' (or run scripts/deps)")
  endif()
  add_library(Casklab::${prefix} UNKNOWN IMPORTED GLOBAL)
  set_target_properties(Casklab::${prefix} PROPERTIES
    IMPORTED_LOCATION ${${prefix}_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${${prefix}_INCLUDE_DIR})
endfunction()

# Peer engines `casklab bench` compares against (bench/peers/).
casklab_require(LMDB lmdb liblmdb-dev)
casklab_require(ROCKSDB rocksdb librocksdb-dev)
casklab_require(KYOTO kyotocabinet libkyotocabinet-dev)
casklab_require_lib(LEVELDB leveldb/c.h leveldb libleveldb-dev)
# issue 4: peers and the RCU keydir.
casklab_require(CK ck libck-dev)
casklab_require(URCU_MEMB liburcu-memb liburcu-dev)
casklab_require(URCU_QSBR liburcu-qsbr liburcu-dev)
casklab_require(URCU_CDS liburcu-cds liburcu-dev)
casklab_require(LIBUV libuv libuv1-dev)
casklab_require(HIREDIS hiredis libhiredis-dev)
