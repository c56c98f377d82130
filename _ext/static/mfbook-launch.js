// The JupyterHub launch button: asks once for the address of the reader's hub (a course hub),
// remembers it in this browser, and opens the chapter there through nbgitpuller.
function mfbookLaunchOnHub(gitPullPath) {
  const key = "mfbook-jupyterhub";
  let hub = window.localStorage.getItem(key) || "";
  hub = window.prompt("Address of your JupyterHub (for example https://hub.example.edu):", hub);
  if (!hub) return;
  hub = hub.trim().replace(/\/+$/, "");
  if (!/^https?:\/\/[^\s/]+/.test(hub)) {
    window.alert("That is not a web address: it should start with https://");
    return;
  }
  window.localStorage.setItem(key, hub);
  window.open(hub + gitPullPath, "_blank");
}
