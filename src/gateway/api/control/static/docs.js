// The API docs: sign in with an admin key (kept in this tab's sessionStorage only, sent as
// a header, never in a URL), then fetch /openapi.json and render it with Swagger UI or ReDoc.
"use strict";
(function () {
  const STORAGE = "gateway.adminKey";
  const form = document.getElementById("sign-in");
  const input = document.getElementById("admin-key");
  const problem = document.getElementById("sign-in-error");
  const target = document.getElementById("docs");
  const viewer = target.dataset.viewer;

  function headers(key) {
    return key ? { Authorization: "Bearer " + key } : {};
  }

  async function load(key) {
    let response;
    try {
      response = await fetch("/openapi.json", { headers: headers(key), cache: "no-store" });
    } catch (error) {
      return { ok: false, message: "The gateway could not be reached: " + error };
    }
    if (response.ok) {
      return { ok: true, spec: await response.json() };
    }
    let message = "The gateway answered " + response.status + ".";
    try {
      message = (await response.json()).error.message;
    } catch (ignored) {}
    return { ok: false, status: response.status, message: message };
  }

  function render(spec, key) {
    form.hidden = true;
    if (viewer === "redoc") {
      window.Redoc.init(spec, { hideDownloadButton: false }, target);
      return;
    }
    window.SwaggerUIBundle({
      spec: spec,
      domNode: target,
      deepLinking: true,
      // Try-it-out calls carry the same key, as a header.
      requestInterceptor: function (request) {
        if (key) request.headers.Authorization = "Bearer " + key;
        return request;
      },
    });
  }

  async function start(key) {
    const result = await load(key);
    if (result.ok) {
      if (key) sessionStorage.setItem(STORAGE, key);
      render(result.spec, key);
      return;
    }
    sessionStorage.removeItem(STORAGE);
    form.hidden = false;
    problem.textContent = key || result.status !== 401 ? result.message : "";
    input.focus();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    problem.textContent = "";
    start(input.value.trim());
  });
  start(sessionStorage.getItem(STORAGE) || "");
})();
