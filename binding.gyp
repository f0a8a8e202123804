{
  "targets": [
    {
      "target_name": "nfq_native",
      "sources": ["native/nfq_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
