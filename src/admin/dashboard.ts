/**
 * The live admin dashboard served at `GET /`: one self-contained page
 * (HTML, CSS and JS inline; no build step, no CDN) that polls
 * `/state.json` every second and updates its tables in place (Petrel's
 * own; linkerd leaves this to `linkerd viz`).
 *
 * @module
 */

/** The dashboard page. */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Petrel</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.2em 0 .4em}
table{border-collapse:collapse;background:#fff;min-width:40em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#eef}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ready{color:#070}.failed,.err{color:#b00}.pending,.connecting{color:#a60}
#status{color:#666}
</style></head><body>
<h1>Petrel</h1><div id="status">loading…</div>
<h2>Services</h2><table id="services"><thead><tr><th>service</th><th>protocol</th><th>endpoints</th></tr></thead><tbody></tbody></table>
<h2>Endpoints</h2><table id="endpoints"><thead><tr><th>direction</th><th>authority</th><th>endpoint</th><th>state</th><th>in flight</th><th>EWMA cost (ms)</th><th>req/s</th><th>err/s</th><th>requests</th><th>failures</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr></thead><tbody></tbody></table>
<h2>Balancers</h2><table id="balancers"><thead><tr><th>backend</th><th>ready</th><th>pending</th></tr></thead><tbody></tbody></table>
<h2>Routes</h2><table id="routes"><thead><tr><th>parent</th><th>route</th><th>req/s</th><th>err/s</th><th>requests</th><th>errors</th></tr></thead><tbody></tbody></table>
<h2>Recent errors</h2><table id="errors"><thead><tr><th>time</th><th>kind</th><th>status</th><th>authority</th><th>path</th><th>message</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
function cell(v,cls){const td=document.createElement("td");td.textContent=v==null?"-":String(v);if(cls)td.className=cls;return td}
function num(v,d){return v==null?"-":Number(v).toFixed(d)}
function fill(id,rows,f){const tb=document.querySelector("#"+id+" tbody");const out=rows.map(r=>{const tr=document.createElement("tr");for(const c of f(r))tr.appendChild(c);return tr});tb.replaceChildren(...out)}
async function tick(){
  try{
    const r=await fetch("state.json",{cache:"no-store"});const s=await r.json();
    fill("services",s.services,x=>[cell(x.name),cell(x.protocol),cell(x.endpoints.join(", "))]);
    fill("endpoints",s.endpoints,x=>[cell(x.direction),cell(x.authority),cell(x.addr),cell(x.state,x.state),cell(x.inFlight,"n"),cell(num(x.costMs,2),"n"),cell(num(x.requestRate,1),"n rate"),cell(num(x.errorRate,1),"n"+(x.errorRate>0?" err":"")),cell(x.requests,"n"),cell(x.failures,"n"),cell(num(x.p50Ms,1),"n"),cell(num(x.p95Ms,1),"n"),cell(num(x.p99Ms,1),"n")]);
    fill("balancers",s.balancers,x=>[cell(x.backend),cell(x.ready,"n ready"),cell(x.pending,"n")]);
    fill("routes",s.routes,x=>[cell(x.parent),cell(x.route),cell(num(x.requestRate,1),"n"),cell(num(x.errorRate,1),"n"),cell(x.requests,"n"),cell(x.errors,"n")]);
    fill("errors",[...s.recentErrors].reverse(),x=>[cell(new Date(x.timeMs).toISOString()),cell(x.kind,"err"),cell(x.status,"n"),cell(x.authority),cell(x.path),cell(x.message)]);
    document.getElementById("status").textContent="updated "+new Date(s.timeMs).toISOString();
  }catch(e){document.getElementById("status").textContent="error: "+e}
}
tick();setInterval(tick,1000);
</script></body></html>
`;
