// Writing and reading secrets (private keys, CA files) safely, with the same rules as the agent's
// authorized_keys writer: directories are walked from "/" (or, for a relative path, from the
// current directory) one component at a time with openat(O_NOFOLLOW|O_DIRECTORY) on held
// descriptors, so no symlink is ever followed and nothing is re-resolved by name; checks are made
// with fstat on what was actually opened.
//
// Kubernetes secret volumes (a read-only tmpfs: DIR of mode 1777, or 3777 root:FSGROUP with an
// fsGroup; each key a link NAME -> ..data/NAME, ..data a link to a "..TIMESTAMP" directory; files
// owned by root, mode defaultMode | 0440 with an fsGroup) are read as they are, by three narrow
// allowances that keep the rules' purpose, which is that nobody but root and this process can
// change what is read, or read a secret:
//  - "nobody else can write to the directory" also holds for a sticky directory on a read-only
//    mount (fstatvfs ST_RDONLY): nobody can write through that mount, and since the mount may
//    be read-only only in this process's namespace (systemd's ProtectSystem=strict), the sticky
//    bit keeps others from replacing or removing files root or this process own through another;
//  - when reading, a symbolic link that is an entry of a directory nobody else can change (as
//    for writing: owned by root or this process, not writable by others) is followed if its
//    target is a relative path of plain names (no '/' at the start, no "." or ".."), and so are
//    the links among those entries it leads through (at most 8): the file reached is always
//    inside the directory, and whoever made the links could have written the file itself.
//    Subdirectories passed through must follow the same directory rules; links below them, and
//    links in a directory others can write to, are refused as before;
//  - a secret file may be readable by its group when the file is on a read-only mount and its
//    group is one this process belongs to (the pod's fsGroup); never by others.
//
// Refusals are FAILED_PRECONDITION naming the path, the reason and (where there is one) the fix;
// system call failures carry the errno text, with the code absl::ErrnoToStatus gives.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet::tls {

// Leaves room in NAME_MAX (255) for the ".NAME.tmp-<16 hex>" temporary file.
inline constexpr size_t kMaxSecureFileNameBytes = 200;

// Replaces DIR/NAME with `content`, never leaving a partial file: the content goes to a new file
// ".NAME.tmp-<random hex>" created O_EXCL|O_NOFOLLOW with mode 0600 in the held directory, is
// written in full, fchmod'ed to `mode`, fsync'ed, renamed over NAME, and the directory fsync'ed.
// On failure the temporary file is unlinked.
// INVALID_ARGUMENT: `name` is empty, ".", "..", contains '/' or NUL, or is longer than
// kMaxSecureFileNameBytes; `mode` has bits outside 0777.
// FAILED_PRECONDITION: a symlink (or non-directory) at any level of `dir`; DIR is group- or
// world-writable (on a writable mount), or owned by neither root nor the effective uid; an
// existing NAME is a symlink,
// not a regular file, or has more than one hard link.
// NOT_FOUND: a component of `dir` does not exist.
absl::Status WriteFileAtomically(const std::string& dir, const std::string& name,
                                 absl::string_view content, mode_t mode);

// "DIR/NAME" split for the functions here: {"DIR", "NAME"}; a bare name is {".", NAME}, and
// "/NAME" is {"/", NAME}.
std::pair<std::string, std::string> SplitDirAndName(const std::string& path);

// As WriteFileAtomically, but never replaces: ALREADY_EXISTS when DIR/NAME exists (a file made
// concurrently by another process included), which then stays as it was. For files that must be
// made once (a signing key, the bootstrap token).
absl::Status CreateFileExclusively(const std::string& dir, const std::string& name,
                                   absl::string_view content, mode_t mode);

// Like `mkdir -p`: creates the missing components of `dir` with `mode` (subject to the umask),
// walking as above (FAILED_PRECONDITION for a symlink at any level). Then refuses
// (FAILED_PRECONDITION) a final directory that is group- or world-writable or owned by neither
// root nor the effective uid; an existing directory's mode is otherwise left as it is.
absl::Status EnsurePrivateDirectory(const std::string& dir, mode_t mode);

// Whether DIR/NAME exists (as anything, a symlink included, which is not followed). `dir` is
// opened and checked as by WriteFileAtomically.
absl::StatusOr<bool> FileExists(const std::string& dir, const std::string& name);

// Removes the name DIR/NAME (never a symlink's target) and fsyncs DIR: true if it existed, false
// if there was nothing to remove. FAILED_PRECONDITION for a directory; INVALID_ARGUMENT for a
// `name` WriteFileAtomically would refuse. `dir` is opened and checked as by WriteFileAtomically.
absl::StatusOr<bool> RemoveFileIfExists(const std::string& dir, const std::string& name);

// The content of a secret file (a private key). The file is opened with O_NOFOLLOW (a symlink
// as the last component is refused, unless it stays inside a directory nobody else can change:
// see the top of this file) and O_NONBLOCK (a FIFO never hangs), and must be a regular file
// owned by root or the effective uid, of at most `limit` bytes, neither readable nor writable by
// group or others (0600 or 0400; group read of a read-only mounted file allowed as above):
// otherwise FAILED_PRECONDITION, e.g. "PATH is readable by group or others (mode 0644); chmod 600
// PATH". NOT_FOUND if missing.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path, size_t limit);

// As ReadSecretFile, except that group and others may read the file (they still may not write
// it): for certificates and other public material.
absl::StatusOr<std::string> ReadPublicFile(const std::string& path, size_t limit);

}  // namespace keyfleet::tls
