/*
 * caddy-wechat-auth: JS-SDK helper, served at {path_prefix}/jssdk.js.
 *
 * It asks the gateway for a wx.config signature of this page's URL and calls
 * wx.config with it. Load WeChat's JS-SDK first, then this script:
 *
 *   <script src="https://res.wx.qq.com/open/js/jweixin-1.6.0.js"></script>
 *   <script src="/wechat_auth/jssdk.js"></script>
 *   <script>
 *     wechatJSSDK.config(['updateAppMessageShareData', 'scanQRCode']).then(function (wx) {
 *       // wx.ready has fired: call wx.updateAppMessageShareData(...) etc.
 *     }, function (err) { console.warn(err.message); });
 *   </script>
 *
 * or, with no code: <script src="/wechat_auth/jssdk.js" data-js-api-list="scanQRCode,chooseImage"></script>
 * (the result is then in wechatJSSDK.ready, a Promise, and events "wechat-jssdk-ready" /
 * "wechat-jssdk-error" on document).
 *
 * wechatJSSDK.config(jsApiList, options): options.debug (wx.config's debug),
 * options.openTagList, options.url (sign this URL instead of the page's).
 * wechatJSSDK.signature(url) resolves to the gateway's answer
 * {appId, timestamp, nonceStr, signature, url} without calling wx.config.
 */
(function () {
  'use strict';
  if (window.wechatJSSDK) {
    return;
  }
  var script = document.currentScript;
  // The endpoint sits next to this script, whatever path_prefix is, on the
  // gateway's origin (a page on a jssdk_domains host loads it from there).
  var endpoint = script && script.src ? script.src.replace(/\.js([?#].*)?$/, '') : '/wechat_auth/jssdk';
  // WeChat on iOS checks a single-page app's signature against the URL the
  // page was entered with, not the one history.pushState made since.
  var entryURL = location.href.split('#')[0];
  var iOS = /iPhone|iPad|iPod/i.test(navigator.userAgent);

  function pageURL() {
    return iOS ? entryURL : location.href.split('#')[0];
  }

  function signature(url) {
    url = url || pageURL();
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open('GET', endpoint + '?url=' + encodeURIComponent(url));
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.withCredentials = false; // the endpoint needs no cookies
      xhr.onload = function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { /* reported below */ }
        if (xhr.status === 200 && body && body.signature) {
          resolve(body);
          return;
        }
        var msg = body && body.message ? body.message : 'HTTP ' + xhr.status;
        var err = new Error('JS-SDK signature refused: ' + msg);
        err.code = body && body.error;
        reject(err);
      };
      xhr.onerror = function () { reject(new Error('JS-SDK signature: the gateway could not be reached')); };
      xhr.send();
    });
  }

  function config(jsApiList, options) {
    options = options || {};
    return signature(options.url).then(function (sig) {
      var cfg = {
        debug: !!options.debug,
        appId: sig.appId,
        timestamp: sig.timestamp,
        nonceStr: sig.nonceStr,
        signature: sig.signature,
        jsApiList: jsApiList || [],
        openTagList: options.openTagList || []
      };
      api.lastConfig = cfg;
      var wx = window.wx || window.jWeixin;
      if (!wx || typeof wx.config !== 'function') {
        var err = new Error('wx is not defined: load https://res.wx.qq.com/open/js/jweixin-1.6.0.js before ' + endpoint + '.js');
        err.code = 'no_jweixin';
        err.config = cfg;
        throw err;
      }
      return new Promise(function (resolve, reject) {
        wx.ready(function () { resolve(wx); });
        wx.error(function (res) {
          reject(new Error('wx.config failed: ' + (res && res.errMsg ? res.errMsg : 'unknown error')));
        });
        wx.config(cfg);
      });
    });
  }

  var api = { config: config, signature: signature, lastConfig: null, ready: null };
  window.wechatJSSDK = api;

  var list = script && script.getAttribute('data-js-api-list');
  if (list !== null && list !== undefined) {
    var apis = list.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
    api.ready = config(apis, { debug: script.hasAttribute('data-debug') });
    api.ready.then(function (wx) {
      document.dispatchEvent(new CustomEvent('wechat-jssdk-ready', { detail: { config: api.lastConfig } }));
      return wx;
    }, function (err) {
      document.dispatchEvent(new CustomEvent('wechat-jssdk-error', { detail: { error: err, config: api.lastConfig } }));
    });
  }
})();
