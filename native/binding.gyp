{
  "targets": [
    {
      "target_name": "berth_native",
      "sources": ["src/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2"]
    },
    {
      "target_name": "berth-helper",
      "type": "executable",
      "sources": [
        "helper/main.c",
        "helper/launch.c",
        "helper/plan.c",
        "helper/child.c",
        "helper/ops-mount.c",
        "helper/ops-process.c",
        "helper/tty.c",
        "helper/userns.c",
        "helper/sealed.c",
        "helper/monitor.c",
        "helper/monitor-socket.c",
        "helper/relay.c",
        "helper/report.c"
      ],
      "defines": ["_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "cflags!": ["-pthread"],
      "ldflags!": ["-pthread", "-rdynamic"]
    },
    {
      "target_name": "berth-init",
      "type": "executable",
      "sources": ["init/berth-init.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2"],
      "cflags!": ["-pthread"],
      "ldflags": ["-static"],
      "ldflags!": ["-pthread", "-rdynamic"]
    }
  ]
}
