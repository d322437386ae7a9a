"""A straightforward Portilla-Simoncelli implementation, for the benchmark only.

Same math as :class:`pipeline.models.PortillaSimoncelli`, written plainly: the
pyramid band by band (shifted spectra), each partially reconstructed image as a
full-size reconstruction shrunk in the Fourier domain, one FFT auto-correlation per
band, the parent bands up-sampled from their own FFT, and correlations as loops over
orientation pairs.  No batching across bands.
"""

from __future__ import annotations

import torch

from pipeline.models.portilla_simoncelli import PortillaSimoncelli


class NaivePS:
    def __init__(self, model: PortillaSimoncelli):
        self.model = model
        self.n, self.o, self.w = (
            model.n_scales,
            model.n_orientations,
            model.spatial_corr_width,
        )
        # the same masks (shifted layout), from the model's pyramid
        m = model.pyramid._factor_masks()
        t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        self.lo0, self.hi0 = t(m["lo"]), t(m["hi"])
        self.him = [t(m[f"hi{k}"]) for k in range(self.n)]
        self.ang = [t(m[f"ana{k}"]) for k in range(self.n)]
        self.angr = [t(m[f"syn{k}"]) for k in range(self.n)]
        self.lom = [t(m[f"lo{k}"]) for k in range(self.n)]
        self.crops = []
        for k in range(self.n):
            (h, w), (sh, sw) = self.him[k].shape, self.lom[k].shape
            y0, x0 = h // 2 - sh // 2, w // 2 - sw // 2
            self.crops.append((y0, y0 + sh, x0, x0 + sw))
        self.cf = (1, -1j, -1, 1j)[(self.o - 1) % 4]
        self.cr = (1, 1j, -1, -1j)[(self.o - 1) % 4]

    # pyramid ---------------------------------------------------------------------
    def pyramid(self, x):
        X = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
        hp = torch.fft.ifft2(torch.fft.ifftshift(X * self.hi0, dim=(-2, -1))).real
        lo = X * self.lo0
        bands = []
        for k in range(self.n):
            per = []
            for b in range(self.o):
                spec = self.cf * lo * self.ang[k][b] * self.him[k]
                per.append(torch.fft.ifft2(torch.fft.ifftshift(spec, dim=(-2, -1))))
            bands.append(per)
            y0, y1, x0, x1 = self.crops[k]
            lo = lo[..., y0:y1, x0:x1] * self.lom[k]
        low = torch.fft.ifft2(torch.fft.ifftshift(lo, dim=(-2, -1))).real
        return hp, bands, low - low.mean((-2, -1), keepdim=True)

    def recon(self, bands, low, levels):
        """Full-size reconstruction from the chosen levels (ints and 'low')."""
        if "low" in levels:
            spec = torch.fft.fftshift(torch.fft.fft2(low), dim=(-2, -1))
        else:
            spec = torch.zeros_like(low, dtype=torch.complex64)
        for k in range(self.n - 1, -1, -1):
            y0, y1, x0, x1 = self.crops[k]
            shape = (*low.shape[:2], *self.ang[k].shape[-2:])
            big = torch.zeros(shape, dtype=spec.dtype)
            big[..., y0:y1, x0:x1] = spec * self.lom[k]
            if k in levels:
                for b in range(self.o):
                    f = torch.fft.fftshift(torch.fft.fft2(bands[k][b]), dim=(-2, -1))
                    big = big + self.cr * f * self.angr[k][b] * self.him[k]
            spec = big
        out = torch.fft.ifft2(torch.fft.ifftshift(spec * self.lo0, dim=(-2, -1)))
        return out.real

    @staticmethod
    def shrink(x, factor):
        h, w = x.shape[-2:]
        mh, mw = h // factor, w // factor
        f = torch.fft.fftshift(torch.fft.fft2(x), dim=(-2, -1))
        y0, x0 = h // 2 - mh // 2, w // 2 - mw // 2
        small = f[..., y0 : y0 + mh, x0 : x0 + mw]  # zero at the crop edges here
        return torch.fft.ifft2(torch.fft.ifftshift(small, dim=(-2, -1))).real

    def autocorr(self, x):
        h, w = x.shape[-2:]
        f = torch.fft.fft2(x)
        ac = torch.fft.ifft2(f * f.conj()).real / (h * w)
        ac = torch.fft.fftshift(ac, dim=(-2, -1))
        r = self.w
        return ac[
            ...,
            h // 2 - r // 2 : h // 2 + (r + 1) // 2,
            w // 2 - r // 2 : w // 2 + (r + 1) // 2,
        ]

    @staticmethod
    def corr(a, b, va=None, vb=None):
        n = a.shape[-1] * a.shape[-2]
        va = (a * a).sum((-2, -1)) / n if va is None else va
        vb = (b * b).sum((-2, -1)) / n if vb is None else vb
        return (a * b).sum((-2, -1)) / n / torch.sqrt(va * vb)

    # statistics ------------------------------------------------------------------
    def __call__(self, x):
        n, o, c = self.n, self.o, self.w // 2
        hp, bands, low = self.pyramid(x)
        mean = x.mean((-2, -1), keepdim=True)
        var = x.var((-2, -1))
        xc = x - mean
        pixel = torch.stack(
            [
                mean[..., 0, 0],
                var,
                (xc**3).mean((-2, -1)) / var**1.5,
                (xc**4).mean((-2, -1)) / var**2,
                x.amin((-2, -1)),
                x.amax((-2, -1)),
            ],
            -1,
        )
        mags = []
        for k in range(n):
            per = []
            for b in range(o):
                m = bands[k][b].abs()
                per.append(m - m.mean((-2, -1), keepdim=True))
            mags.append(per)
        acm = torch.zeros(*x.shape[:2], self.w, self.w, o, n)
        vm = torch.zeros(*x.shape[:2], o, n)
        for k in range(n):
            for b in range(o):
                ac = self.autocorr(mags[k][b])
                vm[..., b, k] = ac[..., c, c]
                acm[..., b, k] = ac / ac[..., c : c + 1, c : c + 1]
        recons = [self.recon(bands, low, ["low"])]
        for k in range(n - 1, -1, -1):
            recons.append(recons[-1] + self.recon(bands, low, [k]))
        recons = [
            self.shrink(r, 2 ** (n - i)) if i < n else r for i, r in enumerate(recons)
        ][::-1]
        acr, vr, sk, ku = [], [], [], []
        for i, r in enumerate(recons):
            ac = self.autocorr(r)
            v = ac[..., c, c]
            acr.append(ac / v[..., None, None])
            vr.append(v)
            s, q = (r**3).mean((-2, -1)) / v**1.5, (r**4).mean((-2, -1)) / v**2
            bad = v / var < torch.finfo(x.dtype).resolution
            sk.append(torch.where(bad, torch.zeros_like(s), s))
            ku.append(torch.where(bad, torch.full_like(q, 3.0), q))
            del i
        vr = torch.stack(vr, -1)
        cross_ori = torch.zeros(*x.shape[:2], o, o, n)
        for k in range(n):
            for b1 in range(o):
                for b2 in range(o):
                    cross_ori[..., b1, b2, k] = self.corr(
                        mags[k][b1], mags[k][b2], vm[..., b1, k], vm[..., b2, k]
                    )
        csm = torch.zeros(*x.shape[:2], o, o, n - 1)
        csr = torch.zeros(*x.shape[:2], o, 2 * o, n - 1)
        for k in range(n - 1):
            parents_mag, parents_sep = [], []
            for b in range(o):
                p = bands[k + 1][b]
                h, w = p.shape[-2:]
                f = torch.fft.fftshift(torch.fft.fft2(p), dim=(-2, -1))
                big = torch.zeros(*p.shape[:-2], 2 * h, 2 * w, dtype=f.dtype)
                big[..., h // 2 : h // 2 + h, w // 2 : w // 2 + w] = f
                up = torch.fft.ifft2(torch.fft.ifftshift(big, dim=(-2, -1)))
                ang = torch.atan2(up.imag, up.real)
                amp = up.abs()
                pm = amp - amp.mean((-2, -1), keepdim=True)
                parents_mag.append(pm)
                parents_sep.append((amp * torch.cos(2 * ang), amp * torch.sin(2 * ang)))
            seps = [s[0] for s in parents_sep] + [s[1] for s in parents_sep]
            for b1 in range(o):
                for b2 in range(o):
                    csm[..., b1, b2, k] = self.corr(
                        mags[k][b1], parents_mag[b2], vm[..., b1, k]
                    )
                for b2 in range(2 * o):
                    csr[..., b1, b2, k] = self.corr(bands[k][b1].real, seps[b2])
        groups = [
            pixel,
            acm,
            torch.stack(sk, -1),
            torch.stack(ku, -1),
            torch.stack(acr, -1),
            vr.sqrt(),
            cross_ori,
            vm.sqrt(),
            csm,
            csr,
            hp.pow(2).mean((-2, -1)).unsqueeze(-1),
        ]
        flat = torch.cat([g.flatten(2) for g in groups], -1)
        return flat.index_select(-1, self.model._keep_index)
