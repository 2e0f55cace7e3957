# Install rules and Debian packages (CPack DEB): keyfleet-agent, keyfleet-controller and keyfleet
# (the CLI), one install component each. deploy/build-packages.sh builds the .debs;
# tests/packaging installs them into a throw-away overlay of the system.
#
# Binaries, man pages and docs go under the install prefix: /usr in the packages
# (CPACK_PACKAGING_INSTALL_PREFIX), CMAKE_INSTALL_PREFIX (/usr/local by default) for
# `cmake --install`. /etc/keyfleet is absolute whatever the prefix. Units go to
# /lib/systemd/system under the /usr prefix (where Debian 12 keeps packages' units) and to
# PREFIX/lib/systemd/system otherwise, with their /usr/bin paths rewritten to PREFIX/bin, so a
# from-source install under /usr/local works as it is.

set(KEYFLEET_PACKAGE_MAINTAINER
  "keyfleet maintainers <maintainers@users.noreply.h-seed-41ac0416.example>"
  CACHE STRING "Maintainer of the Debian packages (control file, copyright, changelog)")
set(KEYFLEET_DEB_REVISION 1 CACHE STRING "Debian revision: packages are VERSION-REVISION")

set(KEYFLEET_PACKAGING_DIR ${PROJECT_SOURCE_DIR}/packaging)
set(KEYFLEET_DEB_VERSION ${PROJECT_VERSION}-${KEYFLEET_DEB_REVISION})
# Components and the packages they become.
set(KEYFLEET_PACKAGE_agent keyfleet-agent)
set(KEYFLEET_PACKAGE_controller keyfleet-controller)
set(KEYFLEET_PACKAGE_cli keyfleet)

install(TARGETS keyfleet-agent RUNTIME DESTINATION bin COMPONENT agent)
install(TARGETS keyfleet-controller RUNTIME DESTINATION bin COMPONENT controller)
install(TARGETS keyfleet RUNTIME DESTINATION bin COMPONENT cli)

# Runs CODE (CMake script, @VAR@ substituted now, ${VAR} at install time) when COMPONENT is
# installed. Used for what depends on the prefix or DESTDIR only known then.
function(keyfleet_install_code component code)
  string(CONFIGURE "${code}" code @ONLY)
  install(CODE "${code}" COMPONENT ${component})
endfunction()

# A unit from deploy/, its paths moved to the install prefix.
function(keyfleet_install_unit component unit)
  set(source ${PROJECT_SOURCE_DIR}/deploy/${unit})
  set(staged ${CMAKE_BINARY_DIR}/packaging/${unit})
  keyfleet_install_code(${component} [=[
    set(unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
    if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
      set(unit_dir /lib/systemd/system)
    endif()
    file(READ "@source@" text)
    string(REPLACE "/usr/bin/keyfleet" "${CMAKE_INSTALL_PREFIX}/bin/keyfleet" text "${text}")
    string(REPLACE "/usr/share/doc/" "${CMAKE_INSTALL_PREFIX}/share/doc/" text "${text}")
    file(WRITE "@staged@" "${text}")
    file(INSTALL "@staged@" DESTINATION "${unit_dir}"
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  ]=])
endfunction()

# An example config from deploy/ to /etc/keyfleet. A conffile in the packages; an existing file
# is never overwritten by `cmake --install` (the new one goes next to it as NAME.dist).
function(keyfleet_install_config component name)
  set(source ${PROJECT_SOURCE_DIR}/deploy/${name})
  keyfleet_install_code(${component} [=[
    set(name "@name@")
    if(EXISTS "$ENV{DESTDIR}/etc/keyfleet/${name}")
      message(STATUS "Keeping /etc/keyfleet/${name}; the shipped one is ${name}.dist")
      set(name "${name}.dist")
    endif()
    file(INSTALL "@source@" DESTINATION /etc/keyfleet RENAME "${name}"
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  ]=])
endfunction()

# SOURCE compressed as Debian wants it (gzip -9n: no name, no timestamp) to DIR/NAME.
function(keyfleet_install_gzipped component source dir name)
  set(staged ${CMAKE_BINARY_DIR}/packaging/${component}/${name})
  keyfleet_install_code(${component} [=[
    execute_process(COMMAND gzip -9nc "@source@" OUTPUT_FILE "@staged@" COMMAND_ERROR_IS_FATAL ANY)
    file(INSTALL "@staged@" DESTINATION "${CMAKE_INSTALL_PREFIX}/@dir@"
      PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  ]=])
endfunction()

file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/packaging/agent ${CMAKE_BINARY_DIR}/packaging/controller
  ${CMAKE_BINARY_DIR}/packaging/cli)

# Shell completion for the CLI, printed by the binary being installed (`keyfleet completion`
# makes it from its own command tree), to where bash-completion and Debian's zsh look.
set(completion_dir ${CMAKE_BINARY_DIR}/packaging/cli)
keyfleet_install_code(cli [=[
  execute_process(COMMAND "$<TARGET_FILE:keyfleet>" completion bash
    OUTPUT_FILE "@completion_dir@/keyfleet" COMMAND_ERROR_IS_FATAL ANY)
  execute_process(COMMAND "$<TARGET_FILE:keyfleet>" completion zsh
    OUTPUT_FILE "@completion_dir@/_keyfleet" COMMAND_ERROR_IS_FATAL ANY)
  file(INSTALL "@completion_dir@/keyfleet"
    DESTINATION "${CMAKE_INSTALL_PREFIX}/share/bash-completion/completions"
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  file(INSTALL "@completion_dir@/_keyfleet"
    DESTINATION "${CMAKE_INSTALL_PREFIX}/share/zsh/vendor-completions"
    PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
]=])

keyfleet_install_unit(agent keyfleet-agent.service)
keyfleet_install_unit(controller keyfleet-controller.service)
keyfleet_install_config(agent agent.yaml)
keyfleet_install_config(controller controller.yaml)
keyfleet_install_gzipped(agent ${KEYFLEET_PACKAGING_DIR}/man/keyfleet-agent.8 share/man/man8
  keyfleet-agent.8.gz)
keyfleet_install_gzipped(controller ${KEYFLEET_PACKAGING_DIR}/man/keyfleet-controller.8
  share/man/man8 keyfleet-controller.8.gz)
keyfleet_install_gzipped(cli ${KEYFLEET_PACKAGING_DIR}/man/keyfleet.1 share/man/man1
  keyfleet.1.gz)

foreach(component agent controller cli)
  set(package ${KEYFLEET_PACKAGE_${component}})
  set(doc share/doc/${package})
  configure_file(${KEYFLEET_PACKAGING_DIR}/copyright
    ${CMAKE_BINARY_DIR}/packaging/${component}/copyright @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/packaging/${component}/copyright DESTINATION ${doc}
    COMPONENT ${component})
  # The changelog's date is taken at install time, from SOURCE_DATE_EPOCH when set
  # (deploy/build-packages.sh sets it to the last commit's): the commit's date, not the build's.
  set(changelog ${CMAKE_BINARY_DIR}/packaging/${component}/changelog.Debian)
  keyfleet_install_code(${component} [=[
    string(TIMESTAMP KEYFLEET_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
    set(KEYFLEET_DEB_VERSION "@KEYFLEET_DEB_VERSION@")
    set(PROJECT_VERSION "@PROJECT_VERSION@")
    set(KEYFLEET_PACKAGE_MAINTAINER "@KEYFLEET_PACKAGE_MAINTAINER@")
    configure_file("@KEYFLEET_PACKAGING_DIR@/changelog.Debian.in" "@changelog@" @ONLY)
  ]=])
  keyfleet_install_gzipped(${component} ${changelog} ${doc} changelog.Debian.gz)
  if(EXISTS ${KEYFLEET_PACKAGING_DIR}/${package}/README.Debian)
    install(FILES ${KEYFLEET_PACKAGING_DIR}/${package}/README.Debian DESTINATION ${doc}
      COMPONENT ${component})
  endif()
  if(EXISTS ${KEYFLEET_PACKAGING_DIR}/${package}/lintian-overrides)
    install(FILES ${KEYFLEET_PACKAGING_DIR}/${package}/lintian-overrides
      DESTINATION share/lintian/overrides RENAME ${package} COMPONENT ${component})
  endif()
endforeach()

# CPack. `cpack` in the build directory makes the three .debs from what is built: its install
# step must not build every test first (install would otherwise depend on `all`).
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME keyfleet)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${KEYFLEET_PACKAGE_MAINTAINER})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL agent controller cli)
# Absolute destinations (/etc, /lib/systemd/system) land in the package, not on this machine.
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${KEYFLEET_DEB_REVISION})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME keyfleet-agent)
set(CPACK_DEBIAN_CONTROLLER_PACKAGE_NAME keyfleet-controller)
set(CPACK_DEBIAN_CLI_PACKAGE_NAME keyfleet)
foreach(component agent controller)
  string(TOUPPER ${component} upper)
  set(scripts ${KEYFLEET_PACKAGING_DIR}/${KEYFLEET_PACKAGE_${component}})
  set(CPACK_DEBIAN_${upper}_PACKAGE_CONTROL_EXTRA
    ${scripts}/postinst ${scripts}/prerm ${scripts}/postrm ${scripts}/conffiles)
endforeach()
set(CPACK_DEBIAN_CONTROLLER_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_CONTROLLER_PACKAGE_SUGGESTS "postgresql, keyfleet")
set(CPACK_DEBIAN_AGENT_PACKAGE_SUGGESTS openssh-server)

# The first line is the synopsis; the rest is wrapped for `apt show` (lintian: at most 80).
set(CPACK_COMPONENT_AGENT_DESCRIPTION
  "node agent keeping ~/.ssh/authorized_keys as the keyfleet controller says
The agent runs as root on every server. It watches the keyfleet controller
over mutual TLS, writes each account's authorized_keys safely (held directory
descriptors, no symlinks, a new file renamed into place), keeps enforcing its
cached state while the controller is away, and reports drift. The service runs
sandboxed: three capabilities, everything read-only but /home, /root and
/var/lib/keyfleet.

Purging this package deletes the agent's state in /var/lib/keyfleet (its TLS
identity and cache) but NEVER users' authorized_keys: the keys keyfleet wrote
stay until their expiry-time.")
set(CPACK_COMPONENT_CONTROLLER_DESCRIPTION
  "server of SSH keys, grants, hosts and rotation policy for keyfleet
The controller is the source of truth for keyfleet: principals, their public
keys, grants to hosts and accounts, rotation policy, the audit log. It serves
the admin API (for the keyfleet CLI) and the agent API on one TLS gRPC port,
with certificates from its own CA, and keeps its state in PostgreSQL. The
service runs as the system user keyfleet without privileges. It is enabled but
not started at install: set up the database first (see README.Debian).

WARNING: purging this package deletes the controller's CA in
/var/lib/keyfleet/ca. Every agent trusts only that CA and would have to enroll
again: back it up first.")
set(CPACK_COMPONENT_CLI_DESCRIPTION
  "command-line client of the keyfleet SSH key service
keyfleet drives the keyfleet controller: principals, keys (add, generate,
rotate, revoke), grants, hosts and their join tokens, access checks,
compliance reports, policy, the audit log, rollouts, notifications and API
tokens. The fingerprint and check-authorized-keys commands work offline.")

include(CPack)
