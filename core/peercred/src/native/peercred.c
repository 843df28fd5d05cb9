/*
 * SO_PEERCRED for @spire-ts/peercred: the kernel's record of the process at
 * the other end of a connected Unix socket (captured at connect(2) time).
 *
 * getPeerCred(fd) returns { pid, uid, gid } on success and the errno (a
 * positive number) on failure, so the typed error is built in TypeScript.
 * Everywhere but Linux the same function throws ERR_PEERCRED_UNSUPPORTED:
 * the package installs, and fails clearly when used.
 */
#define _GNU_SOURCE
#include <node_api.h>

#if defined(__linux__)
#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#endif

#define CHECK(env, call)                                                       \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      napi_throw_error((env), "ERR_PEERCRED_NAPI", "peercred: N-API call failed"); \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

static napi_value get_peer_cred(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "peercred: fd is required");
    return NULL;
  }
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "peercred: fd must be a number");
    return NULL;
  }

#if defined(__linux__)
  struct ucred cred;
  socklen_t len = sizeof(cred);
  napi_value result;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    CHECK(env, napi_create_int32(env, errno, &result));
    return result;
  }
  if (len != sizeof(cred)) {
    CHECK(env, napi_create_int32(env, EINVAL, &result));
    return result;
  }
  napi_value pid, uid, gid;
  CHECK(env, napi_create_object(env, &result));
  CHECK(env, napi_create_int32(env, (int32_t)cred.pid, &pid));
  CHECK(env, napi_create_uint32(env, (uint32_t)cred.uid, &uid));
  CHECK(env, napi_create_uint32(env, (uint32_t)cred.gid, &gid));
  CHECK(env, napi_set_named_property(env, result, "pid", pid));
  CHECK(env, napi_set_named_property(env, result, "uid", uid));
  CHECK(env, napi_set_named_property(env, result, "gid", gid));
  return result;
#else
  (void)fd;
  napi_throw_error(env, "ERR_PEERCRED_UNSUPPORTED",
                   "peercred: SO_PEERCRED is only implemented on Linux");
  return NULL;
#endif
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn, supported;
  CHECK(env, napi_create_function(env, "getPeerCred", NAPI_AUTO_LENGTH, get_peer_cred, NULL, &fn));
  CHECK(env, napi_set_named_property(env, exports, "getPeerCred", fn));
#if defined(__linux__)
  CHECK(env, napi_get_boolean(env, 1, &supported));
#else
  CHECK(env, napi_get_boolean(env, 0, &supported));
#endif
  CHECK(env, napi_set_named_property(env, exports, "supported", supported));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
