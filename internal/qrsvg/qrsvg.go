// Package qrsvg draws QR codes as inline SVG, for the gateway's open-in-WeChat
// page and the simulator's qrconnect page: no image endpoint, no external service.
package qrsvg

import (
	"fmt"
	"strings"

	"rsc.io/qr"
)

// SVG renders text as an SVG QR code (error correction level M, a two-module
// quiet zone), or "" when text is too long for a QR code.
func SVG(text string) string {
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return ""
	}
	const quiet = 2
	n := code.Size + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="QR code"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n, n, n)
	for y := 0; y < code.Size; y++ {
		for x := 0; x < code.Size; x++ {
			if code.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
