{
  "targets": [
    {
      "target_name": "ecverify",
      "sources": ["src/native/ecverify.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-Werror", "-Wno-deprecated-declarations"],
      "xcode_settings": { "OTHER_CFLAGS": ["-Wall", "-Wextra", "-Wno-deprecated-declarations"] }
    }
  ]
}
