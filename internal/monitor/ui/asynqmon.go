package ui

import (
	"encoding/json"
	"strings"
)

// asynqmonNavCSS styles tuskq's entries in asynqmon's drawer like the
// drawer's own Material UI list items, in either theme (colours are
// inherited from the drawer).
const asynqmonNavCSS = `<style>
#tuskq-nav{list-style:none;margin:8px 0 0;padding:4px 0 0;border-top:1px solid rgba(128,128,128,.25)}
#tuskq-nav .tuskq-sub{padding:8px 16px 4px 24px;font:500 .75rem/1.66 Roboto,Helvetica,Arial,sans-serif;letter-spacing:.08em;text-transform:uppercase;opacity:.6;white-space:nowrap}
#tuskq-nav a{display:flex;align-items:center;padding:8px 16px;border-radius:0 24px 24px 0;color:inherit;text-decoration:none;font:400 1rem/1.5 Roboto,Helvetica,Arial,sans-serif;letter-spacing:.00938em;white-space:nowrap}
#tuskq-nav a:hover{background:rgba(128,128,128,.12)}
#tuskq-nav svg{flex:0 0 24px;width:24px;height:24px;fill:currentColor;opacity:.54;margin-right:32px}
#tuskq-nav.tuskq-dark svg{opacity:1}
#tuskq-nav span{margin:4px 0}
#tuskq-nav.tuskq-float{position:fixed;top:12px;right:24px;z-index:1300;display:flex;gap:4px;margin:0;padding:0;border:0;background:inherit}
#tuskq-nav.tuskq-float .tuskq-sub{display:none}
#tuskq-nav.tuskq-float a{border-radius:20px;padding:4px 12px;font-size:.875rem}
#tuskq-nav.tuskq-float svg{margin-right:8px}
</style>`

// asynqmonNavJS adds the entries to the first list of asynqmon's drawer
// once React has drawn it, and again should React ever redraw the list
// without them. If the drawer is not found within 10 s (an asynqmon whose
// markup changed), the entries are shown as a small bar at the top right
// of its app bar instead, so the way to tuskq's pages is never lost.
const asynqmonNavJS = `<script>(function(){var items=ITEMS,root=ROOT,ns="http://www.w3.org/2000/svg",floating=false;
function build(){var box=document.createElement("li");box.id="tuskq-nav";box.setAttribute("aria-label","tuskq");
var h=document.createElement("div");h.className="tuskq-sub";h.textContent="tuskq";box.appendChild(h);
items.forEach(function(it){var a=document.createElement("a");a.href=root+it.path;a.setAttribute("data-key",it.key);a.title=it.name;
var s=document.createElementNS(ns,"svg");s.setAttribute("viewBox","0 0 24 24");s.setAttribute("aria-hidden","true");
var p=document.createElementNS(ns,"path");p.setAttribute("d",it.icon);s.appendChild(p);a.appendChild(s);
var t=document.createElement("span");t.textContent=it.name;a.appendChild(t);box.appendChild(a)});return box}
function place(){if(floating)return true;var cur=document.getElementById("tuskq-nav");if(cur)return true;
var l=document.querySelector(".MuiDrawer-paper ul.MuiList-root");if(!l)return false;var box=build();
if(/255, 255, 255/.test(getComputedStyle(l).color)){box.classList.add("tuskq-dark")}l.appendChild(box);return true}
if(!place()){setTimeout(function(){if(!place()){floating=true;var box=build();box.classList.add("tuskq-float");document.body.appendChild(box)}},10000)}
new MutationObserver(function(){place()}).observe(document.body,{childList:true,subtree:true})})();</script>`

// navEntry is an entry as the script reads it.
type navEntry struct {
	Key  string `json:"key"`
	Name string `json:"name"`
	Path string `json:"path"`
	Icon string `json:"icon"`
}

// AsynqmonNav returns the snippet added to asynqmon's HTML pages before
// </body>: a style sheet and a script that add tuskq's pages (the
// SectionTuskq entries of Nav, under root) to asynqmon's side drawer, after
// its own entries and styled like them, so one navigation leads
// everywhere. The element added has the ID "tuskq-nav", as the drawer of
// tuskq's own pages does.
func AsynqmonNav(root string) []byte {
	var entries []navEntry
	for _, it := range section(Nav(), SectionTuskq) {
		entries = append(entries, navEntry{Key: it.Key, Name: it.Name, Path: it.Path, Icon: it.Icon})
	}
	// json.Marshal escapes <, > and &: the values cannot end the script.
	items, _ := json.Marshal(entries)
	r, _ := json.Marshal(root)
	js := strings.NewReplacer("ITEMS", string(items), "ROOT", string(r)).Replace(asynqmonNavJS)
	return []byte(asynqmonNavCSS + js)
}
