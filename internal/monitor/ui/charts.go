package ui

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Sizes of the charts, in CSS pixels.
const (
	barWidth    = 120
	barHeight   = 8
	sparkWidth  = 120
	sparkHeight = 24
)

// Bar draws value out of capacity as a small horizontal bar followed by
// label (escaped), as inline SVG. The bar turns orange when value reaches
// capacity and red beyond it; a capacity of zero or less draws an empty
// track.
func Bar(value, capacity float64, label string) template.HTML {
	frac := 0.0
	if capacity > 0 {
		frac = value / capacity
	}
	color := "var(--primary)"
	switch {
	case frac > 1:
		color = "var(--err)"
	case frac >= 1:
		color = "var(--warn)"
	}
	w := math.Round(min(max(frac, 0), 1) * barWidth)
	var b strings.Builder
	fmt.Fprintf(&b, `<span class="bar"><svg width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		barWidth, barHeight, barWidth, barHeight, template.HTMLEscapeString(label))
	fmt.Fprintf(&b, `<rect width="%d" height="%d" rx="4" fill="var(--track)"/>`, barWidth, barHeight)
	if w > 0 {
		fmt.Fprintf(&b, `<rect width="%s" height="%d" rx="4" fill="%s"/>`, strconv.FormatFloat(w, 'f', -1, 64), barHeight, color)
	}
	b.WriteString(`</svg>`)
	if label != "" {
		b.WriteString(`<span>` + template.HTMLEscapeString(label) + `</span>`)
	}
	b.WriteString(`</span>`)
	return template.HTML(b.String()) //nolint:gosec // numbers and escaped text only
}

// Sparkline draws values (oldest first) as a small line chart from zero to
// their maximum, with the last value marked, as inline SVG. Fewer than two
// values draw nothing.
func Sparkline(values []float64) template.HTML { return SparklineIn(values, Accent) }

// Colours of SparklineIn.
const (
	// Accent is the theme's chart colour (asynqmon's primary, or its
	// secondary in the dark theme).
	Accent = "var(--spark)"
	// Danger is the error colour, for failures.
	Danger = "var(--err)"
)

// SparklineIn is Sparkline drawn in color, Accent or Danger (anything
// else draws in Accent).
func SparklineIn(values []float64, color string) template.HTML {
	if color != Danger {
		color = Accent
	}
	if len(values) < 2 {
		return ""
	}
	top := 0.0
	for _, v := range values {
		top = max(top, v)
	}
	if top <= 0 {
		top = 1
	}
	const pad = 2.0
	x := func(i int) float64 { return pad + float64(i)*(sparkWidth-2*pad)/float64(len(values)-1) }
	y := func(v float64) float64 { return sparkHeight - pad - max(v, 0)/top*(sparkHeight-2*pad) }
	var pts strings.Builder
	for i, v := range values {
		if i > 0 {
			pts.WriteByte(' ')
		}
		pts.WriteString(num(x(i)) + "," + num(y(v)))
	}
	last := len(values) - 1
	return template.HTML(fmt.Sprintf( //nolint:gosec // numbers only
		`<svg class="spark" width="%d" height="%d" viewBox="0 0 %d %d" aria-hidden="true">`+
			`<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-linejoin="round"/>`+
			`<circle cx="%s" cy="%s" r="2" fill="%s"/></svg>`,
		sparkWidth, sparkHeight, sparkWidth, sparkHeight, pts.String(), color, num(x(last)), num(y(values[last])), color))
}

// num formats a coordinate with one decimal.
func num(f float64) string { return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64) }

// Funcs returns the template functions pages may use: bar (Bar), spark
// (Sparkline), sparkErr (Sparkline in Danger), timeline (Timeline) and pct (a ratio as a whole percentage, "-" without a
// denominator).
func Funcs() template.FuncMap {
	return template.FuncMap{
		"bar":      Bar,
		"spark":    Sparkline,
		"sparkErr": func(v []float64) template.HTML { return SparklineIn(v, Danger) },
		"timeline": Timeline,
		"pct": func(part, whole float64) string {
			if whole <= 0 {
				return "-"
			}
			return strconv.FormatFloat(math.Round(100*part/whole), 'f', -1, 64) + " %"
		},
	}
}

// Timeline draws marks at positions in [0, 1] on a small horizontal axis
// (the next ticks of a schedule over a horizon, say); dense is true when
// there are too many to draw, and the axis is filled instead.
func Timeline(positions []float64, dense bool) template.HTML {
	const w, h = 160, 16
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="timeline" width="%d" height="%d" viewBox="0 0 %d %d" aria-hidden="true">`, w, h, w, h)
	fmt.Fprintf(&b, `<rect y="%d" width="%d" height="2" fill="var(--track)"/>`, h/2-1, w)
	if dense {
		fmt.Fprintf(&b, `<rect y="%d" width="%d" height="8" rx="2" fill="var(--spark)" opacity=".6"/>`, h/2-4, w)
	}
	for _, p := range positions {
		if dense || p < 0 || p > 1 {
			continue
		}
		fmt.Fprintf(&b, `<rect x="%s" y="3" width="2" height="10" fill="var(--spark)"/>`, num(p*(w-2)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // numbers only
}
