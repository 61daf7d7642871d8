package ui

// themeScript runs in the head before the first paint: it applies
// asynqmon's theme preference (localStorage "asynqmon:state",
// settings.themePreference: 0 follows the system, 1 always dark, 2 never)
// and the state of its drawer, so both halves of the monitor agree.
const themeScript = `(function(){var d=document.documentElement,p=0,open=true;
try{var s=(JSON.parse(localStorage.getItem("asynqmon:state")||"{}").settings)||{};p=s.themePreference|0;open=s.isDrawerOpen!==false}catch(e){}
var dark=p===1||(p===0&&window.matchMedia&&matchMedia("(prefers-color-scheme: dark)").matches);
d.setAttribute("data-theme",dark?"dark":"light");if(!open){d.classList.add("drawer-closed")}})();`

// shellScript wires the menu button (it folds the drawer and records the
// choice where asynqmon keeps it) and the in-place refresh.
const shellScript = `(function(){var d=document.documentElement;
var b=document.getElementById("tuskq-menu");if(b){b.addEventListener("click",function(){
var closed=d.classList.toggle("drawer-closed");try{var st=JSON.parse(localStorage.getItem("asynqmon:state")||"{}");
st.settings=st.settings||{};st.settings.isDrawerOpen=!closed;localStorage.setItem("asynqmon:state",JSON.stringify(st))}catch(e){}})}
var every=+d.getAttribute("data-refresh");if(every>0){setInterval(function(){if(document.hidden)return;
fetch(location.href,{headers:{"Accept":"text/html"},credentials:"same-origin"}).then(function(r){return r.text()}).then(function(t){
var m=new DOMParser().parseFromString(t,"text/html").getElementById("tuskq-main"),cur=document.getElementById("tuskq-main");
if(m&&cur){cur.innerHTML=m.innerHTML}}).catch(function(){})},every*1000)}})();`

// styleCSS is asynqmon's Material UI look: its palette, Roboto, the app
// bar, the drawer, outlined papers and tables, light and dark.
const styleCSS = `
:root { --primary: #4379FF; --accent: #4379FF; --paper: #fff; --bg: #f5f7f9; --text: rgba(0,0,0,.87); --text2: rgba(0,0,0,.54);
  --divider: rgba(0,0,0,.12); --cell: rgba(224,224,224,1); --hover: rgba(0,0,0,.04); --sel: #4379FF30; --icon: rgba(0,0,0,.54);
  --err: #f44336; --err-bg: rgb(253,236,234); --err-fg: rgb(97,26,21); --warn: #ff9800; --warn-bg: rgb(255,244,229); --warn-fg: rgb(102,60,0);
  --ok: #4caf50; --track: rgba(0,0,0,.08); --spark: #4379FF; color-scheme: light; }
[data-theme=dark] { --accent: #97FBD1; --paper: #424242; --bg: #303030; --text: #fff; --text2: rgba(255,255,255,.7);
  --divider: rgba(255,255,255,.12); --cell: rgba(81,81,81,1); --hover: rgba(255,255,255,.08); --sel: #97FBD130; --icon: #fff;
  --err-bg: rgb(24,6,5); --err-fg: rgb(250,179,174); --warn-bg: rgb(25,18,7); --warn-fg: rgb(255,213,153); --track: rgba(255,255,255,.12);
  --spark: #97FBD1; color-scheme: dark; }
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; }
body { font: 400 0.875rem/1.43 Roboto, "Helvetica Neue", Helvetica, Arial, sans-serif; letter-spacing: .01071em; color: var(--text); background: var(--paper); }
a { color: var(--primary); }
td a { text-decoration: none; font-weight: 500; }
td a:hover { text-decoration: underline; }
[data-theme=dark] a { color: #8aa9ff; }
.appbar { position: fixed; top: 0; left: 0; right: 0; height: 64px; z-index: 1201; display: flex; align-items: center; padding: 0 24px 0 16px;
  background: var(--paper); color: var(--text); border: 1px solid var(--divider); }
.appbar button { border: 0; background: none; color: var(--icon); padding: 12px; margin: 0 8px 0 -12px; border-radius: 50%; cursor: pointer; display: flex; }
.appbar button:hover { background: var(--hover); }
.appbar svg { width: 24px; height: 24px; fill: currentColor; }
.brand { display: flex; align-items: baseline; gap: 8px; text-decoration: none; color: var(--text) !important; }
.brand b { font-size: 1.6rem; font-weight: 700; letter-spacing: -.02em; color: var(--primary); }
[data-theme=dark] .brand b { color: #fff; }
.brand span { font-size: 1rem; font-weight: 400; color: var(--text2); }
.drawer { position: fixed; top: 64px; bottom: 0; left: 0; width: 220px; overflow-x: hidden; overflow-y: auto; background: var(--paper);
  transition: width 225ms cubic-bezier(.4,0,.6,1); z-index: 1200; }
.drawer-closed .drawer { width: 72px; }
.drawer-lists { display: flex; flex-direction: column; justify-content: space-between; min-height: 100%; }
.drawer ul { list-style: none; margin: 0; padding: 8px 0; }
.drawer a { display: flex; align-items: center; padding: 8px 16px; border-radius: 0 24px 24px 0; color: var(--text); text-decoration: none;
  font-size: 1rem; line-height: 1.5; letter-spacing: .00938em; white-space: nowrap; }
.drawer a:hover { background: var(--hover); }
.drawer a svg { width: 24px; height: 24px; fill: var(--icon); margin-right: 32px; flex: 0 0 24px; }
.drawer a span { margin: 4px 0; }
.drawer a.active { background: var(--sel); }
.drawer a.active span { font-weight: 600; color: var(--accent); }
.drawer a.active svg { fill: var(--accent); }
.drawer .subheader { margin: 8px 0 4px; padding: 8px 16px 0 24px; border-top: 1px solid var(--divider); font-size: .75rem; font-weight: 500;
  letter-spacing: .08em; text-transform: uppercase; color: var(--text2); }
main { margin: 64px 0 0 220px; min-height: calc(100vh - 64px); transition: margin 225ms cubic-bezier(.4,0,.6,1); background: var(--paper); }
.drawer-closed main { margin-left: 72px; }
.container { max-width: 1280px; padding: 32px 24px; margin: 0 auto; }
.title { display: flex; align-items: baseline; gap: 16px; margin-bottom: 16px; }
h1 { font-size: 1.5rem; font-weight: 400; line-height: 1.33; margin: 0; }
.title a { font-size: .8125rem; text-decoration: none; }
h2 { font-size: 1.25rem; font-weight: 500; line-height: 1.6; letter-spacing: .0075em; margin: 0 0 8px; }
.card { border: 1px solid var(--divider); border-radius: 4px; background: var(--paper); padding: 16px; margin-bottom: 24px; overflow-x: auto; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 24px; margin-bottom: 24px; }
.cards .card { margin: 0; }
.stat { font-size: 2rem; font-weight: 400; line-height: 1.2; }
.stat small { font-size: 1rem; color: var(--text2); }
.label { color: var(--text2); font-size: .75rem; letter-spacing: .03333em; text-transform: uppercase; margin-bottom: 4px; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--cell); padding: 12px 16px; text-align: left; vertical-align: top; }
th { font-weight: 500; line-height: 1.5rem; white-space: nowrap; }
tbody tr:hover { background: var(--hover); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--text2); }
.err { color: var(--err); }
.warn, .alert { color: var(--warn-fg); background: var(--warn-bg); border-radius: 4px; padding: 6px 16px; margin: 0 0 16px; }
.alert.err { color: var(--err-fg); background: var(--err-bg); }
.chip { display: inline-block; padding: 0 8px; border-radius: 12px; font-size: .75rem; line-height: 20px; background: var(--track); white-space: nowrap; }
.chip.ok { background: #4caf5033; } .chip.err { background: #f4433633; } .chip.warn { background: #ff980033; }
.bar { display: inline-flex; align-items: center; gap: 8px; white-space: nowrap; }
.bar svg { display: block; }
.spark { vertical-align: middle; }
ul.plain { margin: 0; padding-left: 16px; }
code { font-family: "Roboto Mono", Menlo, Consolas, monospace; font-size: .8125rem; }
`

const layoutHTML = `<!DOCTYPE html>
<html lang="en" data-theme="light"{{if gt .Refresh 0}} data-refresh="{{.Refresh}}"{{end}}>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
{{if gt .Refresh 0}}<noscript><meta http-equiv="refresh" content="{{.Refresh}}"></noscript>
{{end}}<title>{{.Title}} - tuskq monitor</title>
<link rel="icon" type="image/png" href="{{.Root}}/favicon-32x32.png">
<script>` + themeScript + `</script>
<style>` + styleCSS + `</style>
</head>
<body>
<header class="appbar"><button id="tuskq-menu" type="button" aria-label="open drawer"><svg viewBox="0 0 24 24" aria-hidden="true"><path d="{{.Menu}}"/></svg></button><a class="brand" href="{{.Root}}/"><b>tuskq</b><span>monitor</span></a></header>
<nav id="tuskq-nav" class="drawer" aria-label="Monitor"><div class="drawer-lists">
<ul>{{range .Asynqmon}}{{template "item" (item $ .)}}{{end}}
<li class="subheader" title="tuskq">tuskq</li>{{range .Tuskq}}{{template "item" (item $ .)}}{{end}}</ul>
<ul>{{range .Bottom}}{{template "item" (item $ .)}}{{end}}</ul>
</div></nav>
<main id="tuskq-main"><div class="container">
<div class="title"><h1>{{.Title}}</h1>{{if .JSON}}<a id="json-link" href="{{.Root}}{{.JSON}}">JSON</a>{{end}}</div>
{{.Body}}
</div></main>
<script>` + shellScript + `</script>
</body>
</html>
{{define "item"}}<li><a href="{{.Root}}{{.Item.Path}}" data-key="{{.Item.Key}}" title="{{.Item.Name}}"{{if .Active}} class="active" aria-current="page"{{end}}><svg viewBox="0 0 24 24" aria-hidden="true"><path d="{{.Item.Icon}}"/></svg><span>{{.Item.Name}}</span></a></li>
{{end}}`
