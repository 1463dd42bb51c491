"""The benchmark's own logic (no timings): critical-path waves, the linear fit, the PNG writer."""

from __future__ import annotations

import struct
import zlib

from bench.__main__ import linear_fit
from bench.critical_path import longest_chain, steps
from bench.png import line_plot


def test_model_download_starts_in_the_first_wave(homelab_render):
    by_name = {s.name: s for s in steps(homelab_render)}
    assert by_name["ds-r1-llama-8b-cache-loader"].wave == 1
    assert by_name["gpu-driver"].wave == 1
    # The model pods wait for the download and the driver, and nothing slower.
    release = by_name["ds-r1-llama-8b-release"]
    assert release.wave == 2 and release.after in ("ds-r1-llama-8b-cache-loader", "gpu-driver")


def test_waves_follow_crds_controllers_then_custom_resources(homelab_render):
    by_name = {s.name: s for s in steps(homelab_render)}
    assert by_name["gateway-kgateway-crds"].wave > by_name["gateway-gateway-api-crds"].wave
    assert by_name["gateway-kgateway-controller"].wave > by_name["gateway-kgateway-crds"].wave
    assert by_name["gateway-gateway"].wave > by_name["gateway-kgateway-controller"].wave
    route = by_name["gateway-route-ds-r1-llama-8b"]
    assert route.wave > by_name["gateway-gateway"].wave and route.wave > by_name["ds-r1-llama-8b-pool-release"].wave
    chain = [s.name for s in longest_chain(steps(homelab_render))]
    assert chain[-1] == "gateway-route-ds-r1-llama-8b" and "crds" in chain[0]


def test_linear_fit():
    a, b, r2 = linear_fit([(1, 3.0), (2, 5.0), (4, 9.0)])
    assert (round(a, 6), round(b, 6), round(r2, 6)) == (1.0, 2.0, 1.0)


def test_plot_is_a_valid_png():
    data = line_plot({"stack": [(1, 0.5), (64, 4.0)], "floor": [(1, 0.3), (64, 2.0)]}, "models", "render s")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4:idat])[0]
    raw = zlib.decompress(data[idat + 4: idat + 4 + length])
    assert len(raw) == height * (1 + width * 3)
    def pixel(x: int, y: int) -> tuple[int, ...]:
        start = y * (1 + width * 3) + 1 + x * 3
        return tuple(raw[start:start + 3])

    assert pixel(80, 380) == (0, 0, 0)  # the axes' origin
    rows = [raw[y * (1 + width * 3) + 1:(y + 1) * (1 + width * 3)] for y in range(height)]
    assert any(bytes((31, 119, 180)) in row for row in rows)  # the first series is drawn


def test_chart_rendered_objects_are_part_of_their_charts_step(homelab_render):
    names = {s.name for s in steps(homelab_render)}
    assert "ds-r1-llama-8b-release" in names
    assert not [n for n in names if n.startswith("ds-r1-llama-8b-release:")]
