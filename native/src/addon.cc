// Berth's native addon: the few synchronous syscalls Node does not expose.
//
// Contract (mirrored by native/index.ts, which checks arguments first):
//   peerCred(fd)                      -> { pid, uid, gid }   SO_PEERCRED of a connected Unix socket
//   mknod(path, mode, major, minor)   -> undefined           mknod(2); mode carries the file type bits
//   lsetxattr(path, name, value)      -> undefined           value is a Buffer; never follows symlinks
//   lgetxattr(path, name)             -> Buffer | null       null when the attribute is absent
//   llistxattr(path)                  -> string[]
//   syncfs(fd)                        -> undefined
// Every failure throws an Error with .code (errno name), .errno (number), .syscall and .path, the
// same shape as Node's own fs errors, so callers treat both alike.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace {

const char* ErrnoName(int e) {
  switch (e) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EEXIST: return "EEXIST";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case ENOTCONN: return "ENOTCONN";
    case ENODATA: return "ENODATA";
    case ENOTSUP: return "ENOTSUP";
    case E2BIG: return "E2BIG";
    case ERANGE: return "ERANGE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ELOOP: return "ELOOP";
    case EDQUOT: return "EDQUOT";
    default: return "EUNKNOWN";
  }
}

Napi::Value Throw(Napi::Env env, int err, const char* syscall, const std::string& path) {
  std::string msg = std::string(ErrnoName(err)) + ": " + strerror(err) + ", " + syscall;
  if (!path.empty()) msg += " '" + path + "'";
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  if (!path.empty()) e.Set("path", Napi::String::New(env, path));
  e.ThrowAsJavaScriptException();
  return env.Undefined();
}

bool Usage(const Napi::CallbackInfo& info, size_t n, const char* usage) {
  if (info.Length() != n) {
    Napi::TypeError::New(info.Env(), std::string("usage: ") + usage).ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usage(info, 1, "peerCred(fd: number)") ) return env.Undefined();
  if (!info[0].IsNumber()) { Napi::TypeError::New(env, "peerCred: fd must be a number").ThrowAsJavaScriptException(); return env.Undefined(); }
  int fd = info[0].As<Napi::Number>().Int32Value();
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return Throw(env, errno, "getsockopt(SO_PEERCRED)", "");
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, cred.pid));
  out.Set("uid", Napi::Number::New(env, cred.uid));
  out.Set("gid", Napi::Number::New(env, cred.gid));
  return out;
}

Napi::Value Mknod(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usage(info, 4, "mknod(path: string, mode: number, major: number, minor: number)")) return env.Undefined();
  if (!info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "mknod: expected (string, number, number, number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  mode_t mode = info[1].As<Napi::Number>().Uint32Value();
  dev_t dev = makedev(info[2].As<Napi::Number>().Uint32Value(), info[3].As<Napi::Number>().Uint32Value());
  if (mknod(path.c_str(), mode, dev) != 0) return Throw(env, errno, "mknod", path);
  return env.Undefined();
}

Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usage(info, 3, "lsetxattr(path: string, name: string, value: Buffer)")) return env.Undefined();
  if (!info[0].IsString() || !info[1].IsString() || !info[2].IsBuffer()) {
    Napi::TypeError::New(env, "lsetxattr: expected (string, string, Buffer)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  Napi::Buffer<char> value = info[2].As<Napi::Buffer<char>>();
  if (lsetxattr(path.c_str(), name.c_str(), value.Data(), value.Length(), 0) != 0) return Throw(env, errno, "lsetxattr", path);
  return env.Undefined();
}

Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usage(info, 2, "lgetxattr(path: string, name: string)")) return env.Undefined();
  if (!info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "lgetxattr: expected (string, string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  std::string name = info[1].As<Napi::String>().Utf8Value();
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t n = lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (n < 0) {
      if (errno == ENODATA) return env.Null();
      return Throw(env, errno, "lgetxattr", path);
    }
    std::vector<char> buf(n > 0 ? n : 1);
    ssize_t m = lgetxattr(path.c_str(), name.c_str(), buf.data(), n);
    if (m >= 0) return Napi::Buffer<char>::Copy(env, buf.data(), m);
    if (errno != ERANGE) return Throw(env, errno, "lgetxattr", path);
  }
  return Throw(env, ERANGE, "lgetxattr", path);
}

Napi::Value Llistxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usage(info, 1, "llistxattr(path: string)")) return env.Undefined();
  if (!info[0].IsString()) { Napi::TypeError::New(env, "llistxattr: path must be a string").ThrowAsJavaScriptException(); return env.Undefined(); }
  std::string path = info[0].As<Napi::String>().Utf8Value();
  for (int attempt = 0; attempt < 4; attempt++) {
    ssize_t n = llistxattr(path.c_str(), nullptr, 0);
    if (n < 0) return Throw(env, errno, "llistxattr", path);
    std::vector<char> buf(n > 0 ? n : 1);
    ssize_t m = llistxattr(path.c_str(), buf.data(), n);
    if (m < 0) {
      if (errno == ERANGE) continue;
      return Throw(env, errno, "llistxattr", path);
    }
    Napi::Array out = Napi::Array::New(env);
    uint32_t i = 0;
    for (ssize_t start = 0; start < m;) {
      size_t len = strnlen(buf.data() + start, m - start);
      if (len > 0) out.Set(i++, Napi::String::New(env, buf.data() + start, len));
      start += len + 1;
    }
    return out;
  }
  return Throw(env, ERANGE, "llistxattr", path);
}

Napi::Value Syncfs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usage(info, 1, "syncfs(fd: number)")) return env.Undefined();
  if (!info[0].IsNumber()) { Napi::TypeError::New(env, "syncfs: fd must be a number").ThrowAsJavaScriptException(); return env.Undefined(); }
  if (syncfs(info[0].As<Napi::Number>().Int32Value()) != 0) return Throw(env, errno, "syncfs", "");
  return env.Undefined();
}

// openat2(2) with a `resolve` mask: RESOLVE_IN_ROOT makes `dirfd` the root for the whole lookup
// (absolute symlinks and ".." stay inside it), which is how paths inside a container's root are
// opened from the host. Returns the new fd (O_CLOEXEC is always added).
Napi::Value Openat2(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!Usage(info, 5, "openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number)")) return env.Undefined();
  if (!info[0].IsNumber() || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsNumber() || !info[4].IsNumber()) {
    Napi::TypeError::New(env, "openat2: expected (number, string, number, number, number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string path = info[1].As<Napi::String>().Utf8Value();
  if (path.find('\0') != std::string::npos) return Throw(env, EINVAL, "openat2", path);
  struct open_how how;
  memset(&how, 0, sizeof how);
  how.flags = (uint64_t)(uint32_t)info[2].As<Napi::Number>().Int64Value() | O_CLOEXEC;
  if (how.flags & (O_CREAT | O_TMPFILE)) how.mode = (uint64_t)(info[3].As<Napi::Number>().Int64Value() & 07777);
  how.resolve = (uint64_t)info[4].As<Napi::Number>().Int64Value();
  long fd = -1;
  for (int tries = 0; tries < 16; tries++) {  // EAGAIN: a concurrent rename; the kernel asks to retry
    fd = syscall(SYS_openat2, info[0].As<Napi::Number>().Int32Value(), path.c_str(), &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) break;
  }
  if (fd < 0) return Throw(env, errno, "openat2", path);
  return Napi::Number::New(env, (double)fd);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("openat2", Napi::Function::New(env, Openat2));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred));
  exports.Set("mknod", Napi::Function::New(env, Mknod));
  exports.Set("lsetxattr", Napi::Function::New(env, Lsetxattr));
  exports.Set("lgetxattr", Napi::Function::New(env, Lgetxattr));
  exports.Set("llistxattr", Napi::Function::New(env, Llistxattr));
  exports.Set("syncfs", Napi::Function::New(env, Syncfs));
  return exports;
}

}  // namespace

NODE_API_MODULE(berth_native, Init)
