const kslice = require("kslice");
const host = new kslice.Host("local", { connection: { type: "local" }, prefix: process.env.P });
new kslice.Container("c", { host, command: ["sleep", "3600"], limits: { cpu: { max: -1 } } });
