package main

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var (
	skeinColor = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	kafkaColor = color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}
)

// writeCharts draws, per mode, the throughput bars and the end-to-end
// latency percentiles.
func writeCharts(dir string, res *results) error {
	for _, mode := range modes(res) {
		if err := throughputChart(filepath.Join(dir, "bench-throughput-"+mode+".png"), res, mode); err != nil {
			return err
		}
		if err := latencyChart(filepath.Join(dir, "bench-latency-"+mode+".png"), res, mode); err != nil {
			return err
		}
	}
	return nil
}

// shortLabel puts a workload name on two lines under its bars.
func shortLabel(wl string) string {
	wl = strings.TrimPrefix(wl, "produce ")
	return strings.Replace(wl, " ", "\n", 1)
}

func throughputChart(path string, res *results, mode string) error {
	var labels []string
	var s, k plotter.Values
	for _, wl := range workloadIDs(res, mode) {
		if strings.HasPrefix(wl, "e2e") {
			continue
		}
		labels = append(labels, shortLabel(wl))
		s = append(s, median(pick(res, mode, "skein", wl, mbps)))
		k = append(k, median(pick(res, mode, "kafka", wl, mbps)))
	}
	if len(labels) == 0 {
		return nil
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Throughput, %s mode (median of %d rounds, 1 KiB records)", modeTitle(mode), res.Config.Rounds)
	p.Y.Label.Text = "MB/s"
	p.Y.Min = 0
	w := vg.Points(16)
	bs, err := plotter.NewBarChart(s, w)
	if err != nil {
		return err
	}
	bs.Color, bs.LineStyle.Width, bs.Offset = skeinColor, 0, -w/2
	bk, err := plotter.NewBarChart(k, w)
	if err != nil {
		return err
	}
	bk.Color, bk.LineStyle.Width, bk.Offset = kafkaColor, 0, w/2
	top := 0.0
	for i := range s {
		top = max(top, s[i], k[i])
	}
	p.Y.Max = top * 1.15 // room for the legend
	p.Title.Padding = vg.Points(6)
	p.Add(bs, bk, plotter.NewGrid())
	p.Legend.Add("Skein", bs)
	p.Legend.Add("Kafka", bk)
	p.Legend.Top = true
	p.Legend.Left = true
	p.NominalX(labels...)
	return p.Save(10*vg.Inch, 5*vg.Inch, path)
}

func modeTitle(mode string) string {
	if mode == modeFsync {
		return "fsync per batch"
	}
	return "OS-buffered"
}

// latencyChart draws the end-to-end latency percentiles of each rate
// on a log scale, Skein solid and Kafka dashed.
func latencyChart(path string, res *results, mode string) error {
	qs := []string{"p50", "p99", "p99.9", "max"}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("End-to-end latency, %s mode (median of %d rounds)", modeTitle(mode), res.Config.Rounds)
	p.Y.Label.Text = "ms (log scale)"
	p.X.Label.Text = "percentile"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Add(plotter.NewGrid())
	n := 0
	shades := []float64{1, 0.55}
	for _, wl := range workloadIDs(res, mode) {
		if !strings.HasPrefix(wl, "e2e") {
			continue
		}
		for _, broker := range []string{"skein", "kafka"} {
			var xys plotter.XYs
			for qi, q := range qs {
				v := median(pick(res, mode, broker, wl, pct(q)))
				if v > 0 {
					xys = append(xys, plotter.XY{X: float64(qi), Y: v})
				}
			}
			if len(xys) == 0 {
				continue
			}
			l, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			c := skeinColor
			if broker == "kafka" {
				c = kafkaColor
				l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			}
			c = shade(c, shades[min(n/2, len(shades)-1)])
			l.Color, l.Width = c, vg.Points(2)
			pts.Color, pts.Shape = c, draw.CircleGlyph{}
			if strings.Contains(wl, "50000") {
				pts.Shape = draw.TriangleGlyph{}
			}
			p.Add(l, pts)
			p.Legend.Add(fmt.Sprintf("%s %s", brokerTitle(broker), strings.TrimPrefix(wl, "e2e ")), l, pts)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Title.Padding = vg.Points(6)
	p.Y.Min /= 1.5
	p.Y.Max *= 1.5
	p.NominalX(qs...)
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

// shade lightens c towards white by 1-f.
func shade(c color.RGBA, f float64) color.RGBA {
	mix := func(v uint8) uint8 { return uint8(float64(v)*f + 255*(1-f)) }
	return color.RGBA{R: mix(c.R), G: mix(c.G), B: mix(c.B), A: 0xff}
}

func brokerTitle(b string) string {
	if b == "kafka" {
		return "Kafka"
	}
	return "Skein"
}
