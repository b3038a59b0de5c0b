module.exports = {
  apps: [{
    name: "okeybot",
    script: "index.js",
    "node_args": "--inspect=127.0.0.1:9240"
  }]
}
