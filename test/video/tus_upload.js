// Uploads FILE to ENDPOINT (a tus 1.0 server) with tus-js-client, retrying
// after a cut connection; prints "url URL", each retry, "done BYTES".
// Usage: NODE_PATH=... node tus_upload.js ENDPOINT FILE
const fs = require("fs");
const tus = require("tus-js-client");
const [endpoint, file] = process.argv.slice(2);
const data = fs.readFileSync(file);
const upload = new tus.Upload(data, {
  endpoint,
  retryDelays: [0, 200, 500, 1000],
  metadata: { filename: "a.mp4", filetype: "video/mp4" },
  onShouldRetry(err, n) {
    console.log(`retry ${n}: ${err.message.split("\n")[0]}`);
    return true;
  },
  onError(err) {
    console.log(`error ${err.message}`);
    process.exit(1);
  },
  onSuccess() {
    console.log(`url ${upload.url}`);
    console.log(`done ${data.length}`);
  },
});
upload.start();
