/*
 * verifyP256(point, message, signature) -> 1 (valid), 0 (not valid), -1 (not a P-256 point)
 *
 * ECDSA over P-256 with SHA-256, through OpenSSL's EC functions (the ones
 * Node itself links and exports), without building an EVP_PKEY. OpenSSL 3's
 * EVP path decodes and imports every public key through its provider layer,
 * which costs more than the verification itself; a CSR brings a new key
 * every time. The EC_KEY functions used here are deprecated in OpenSSL 3 but
 * present in every 3.x release.
 *
 * The point must be an encoded P-256 point: EC_POINT_oct2point refuses one
 * that is not on the curve, and the point at infinity is refused here. P-256
 * has cofactor 1, so a point on the curve is in the prime-order group.
 * `signature` is a DER ECDSA-Sig-Value. As OpenSSL's ECDSA_verify does, it
 * must be the canonical DER of what it decodes to: BER variants, trailing
 * bytes and the like make it invalid.
 *
 * Thread safety: each Node environment (main thread or worker) has its own
 * EC_GROUP, read-only after creation; every call allocates its own point,
 * key and signature.
 */
#include <node_api.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

#define THROW_IF(cond, msg)                  \
  do {                                       \
    if (cond) {                              \
      napi_throw_type_error(env, NULL, msg); \
      return NULL;                           \
    }                                        \
  } while (0)

static int bytes_of(napi_env env, napi_value v, const unsigned char **data, size_t *len) {
  napi_typedarray_type type;
  void *ptr;
  napi_value ab;
  size_t offset;
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return 0;
  if (napi_get_typedarray_info(env, v, &type, len, &ptr, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = ptr;
  return 1;
}

static napi_value verify_p256(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  THROW_IF(napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3,
           "verifyP256(point, message, signature) takes three Uint8Arrays");
  const unsigned char *point, *message, *signature;
  size_t point_len, message_len, signature_len;
  THROW_IF(!bytes_of(env, argv[0], &point, &point_len), "point must be a Uint8Array");
  THROW_IF(!bytes_of(env, argv[1], &message, &message_len), "message must be a Uint8Array");
  THROW_IF(!bytes_of(env, argv[2], &signature, &signature_len), "signature must be a Uint8Array");

  EC_GROUP *group = NULL;
  THROW_IF(napi_get_instance_data(env, (void **)&group) != napi_ok || group == NULL, "ecverify: no P-256 group");

  int result = -1;
  EC_POINT *pub = EC_POINT_new(group);
  EC_KEY *key = EC_KEY_new();
  ECDSA_SIG *sig = NULL;
  if (pub != NULL && key != NULL && point_len > 0 && EC_POINT_oct2point(group, pub, point, point_len, NULL) == 1 &&
      EC_POINT_is_at_infinity(group, pub) == 0 && EC_KEY_set_group(key, group) == 1 && EC_KEY_set_public_key(key, pub) == 1) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(message, message_len, digest);
    const unsigned char *p = signature;
    sig = d2i_ECDSA_SIG(NULL, &p, (long)signature_len);
    unsigned char *der = NULL;
    int der_len = sig == NULL ? -1 : i2d_ECDSA_SIG(sig, &der);
    if (sig == NULL || der_len < 0 || (size_t)der_len != signature_len || CRYPTO_memcmp(der, signature, signature_len) != 0) {
      result = 0;
    } else {
      result = ECDSA_do_verify(digest, SHA256_DIGEST_LENGTH, sig, key) == 1 ? 1 : 0;
    }
    OPENSSL_free(der);
  }
  ECDSA_SIG_free(sig);
  EC_KEY_free(key);
  EC_POINT_free(pub);
  /* Leave nothing in this thread's OpenSSL error queue for Node's own calls to find. */
  ERR_clear_error();

  napi_value out;
  if (napi_create_int32(env, result, &out) != napi_ok) return NULL;
  return out;
}

static void free_group(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  EC_GROUP_free((EC_GROUP *)data);
}

NAPI_MODULE_INIT() {
  EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
  if (group == NULL) {
    napi_throw_error(env, NULL, "ecverify: OpenSSL has no P-256 group");
    return NULL;
  }
  if (napi_set_instance_data(env, group, free_group, NULL) != napi_ok) {
    EC_GROUP_free(group);
    napi_throw_error(env, NULL, "ecverify: cannot keep the P-256 group");
    return NULL;
  }
  napi_value fn;
  if (napi_create_function(env, "verifyP256", NAPI_AUTO_LENGTH, verify_p256, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "verifyP256", fn) != napi_ok) return NULL;
  return exports;
}
