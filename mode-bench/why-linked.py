#!/usr/bin/env python3
"""Why is a symbol in a firmware? The reference graph of an ARM ELF, for flash work.

Needs a firmware linked with its relocations kept (rust-lld's --emit-relocs), e.g. the
quickstart, in a target directory of its own (-Tlink.x repeated: RUSTFLAGS replaces the
config's flags):

    cd mode-embassy/quickstart
    RUSTFLAGS="-C link-arg=-Tlink.x -C link-arg=--emit-relocs" cargo build --release \
        --target thumbv7em-none-eabihf --target-dir target/relocs --bin mode-quickstart
    python3 ../../mode-bench/why-linked.py \
        target/relocs/thumbv7em-none-eabihf/release/mode-quickstart '<str as core::fmt::Debug>'

Usage: why-linked.py ELF PATTERN...          the shortest chain of references from the
                                             vector table to each symbol whose demangled
                                             name contains PATTERN
       why-linked.py ELF --refs PATTERN [--lines]
                                             what references those symbols (--lines: the
                                             source lines of the references, inlined
                                             frames included; needs debug info)
       why-linked.py ELF --dom [PATTERN [N]] the N symbols (default 40) whose removal would
                                             unlink the most bytes, reachable only through
                                             them (sizes include .bss)

A node is a symbol with its address range: a function, a static, a vtable or a local label
(`.Lanon.*`, often a vtable or a panic location); an edge is a relocation inside one
pointing into another. Calls through section symbols are not followed, and an unsized
label is taken to reach the next symbol, so chains are a good guide, not a proof.
Needs arm-none-eabi-c++filt and arm-none-eabi-addr2line (binutils-arm-none-eabi).
"""
import bisect
import re
import signal
import struct
import subprocess
import sys
from collections import defaultdict, deque

SHT_PROGBITS, SHT_SYMTAB, SHT_REL = 1, 2, 9
SHF_ALLOC, SHF_EXECINSTR = 2, 4
STT_FUNC, STT_SECTION, STT_FILE = 2, 3, 4
R_ARM_ABS32, R_ARM_THM_CALL, R_ARM_THM_JUMP24 = 2, 10, 30
R_ARM_THM_MOVW_ABS_NC, R_ARM_THM_MOVT_ABS = 47, 48
ROOT = '<vector table>'


def load(path):
    data = open(path, 'rb').read()
    if data[:4] != b'\x7fELF' or data[4] != 1 or data[5] != 1:
        sys.exit(f'{path}: not a 32-bit little-endian ELF')
    (shoff,) = struct.unpack_from('<I', data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from('<HHH', data, 0x2E)
    secs = []
    for i in range(shnum):
        f = struct.unpack_from('<10I', data, shoff + i * shentsize)
        secs.append(dict(name=f[0], type=f[1], flags=f[2], addr=f[3], off=f[4], size=f[5],
                         link=f[6], info=f[7]))

    def cstr(off):
        return data[off:data.index(b'\0', off)].decode()

    for s in secs:
        s['name'] = cstr(secs[shstrndx]['off'] + s['name'])
    symtab = next((s for s in secs if s['type'] == SHT_SYMTAB), None)
    if symtab is None:
        sys.exit(f'{path}: no symbol table')
    strtab = secs[symtab['link']]
    syms = []
    for i in range(symtab['size'] // 16):
        name, value, size, info, _, shndx = struct.unpack_from(
            '<IIIBBH', data, symtab['off'] + 16 * i)
        syms.append(dict(name=cstr(strtab['off'] + name), value=value, size=size,
                         type=info & 15, shndx=shndx))
    return data, secs, syms


def demangler(names):
    names = sorted(names)
    out = subprocess.run(['arm-none-eabi-c++filt'], input='\n'.join(names),
                         capture_output=True, text=True, check=True).stdout.split('\n')
    # Without crate disambiguators and hashes: core[5b20…]::fmt::write::h… is core::fmt::write.
    return {m: re.sub(r'::h[0-9a-f]{16}$', '', re.sub(r'\[[0-9a-f]+\]', '', d))
            for m, d in zip(names, out)}


class Graph:
    def __init__(self, path):
        self.path = path
        data, secs, syms = load(path)
        self.data, self.secs = data, secs
        names = demangler({s['name'] for s in syms if s['name']})
        alloc = {i for i, s in enumerate(secs) if s['flags'] & SHF_ALLOC and s['size']}
        points = []
        for s in syms:
            if (s['shndx'] not in alloc or not s['name'] or s['type'] in (STT_SECTION, STT_FILE)
                    or s['name'].startswith('$')):  # $t/$d: ARM mapping symbols
                continue
            addr = s['value'] & ~1 if s['type'] == STT_FUNC else s['value']
            points.append((addr, s['size'], names[s['name']]))
        points.sort(key=lambda p: (p[0], -p[1]))
        self.points = points
        self.starts = [p[0] for p in points]
        self.size = defaultdict(int)
        for _, size, name in points:
            self.size[name] = max(self.size[name], size)
        self.edges = defaultdict(set)
        self.sites = defaultdict(list)
        self._read_relocations(syms)

    def owner(self, addr):
        """The symbol whose range holds `addr`: a sized one if any, else the one before."""
        i = bisect.bisect_right(self.starts, addr) - 1
        for j in range(i, max(i - 50, -1), -1):
            start, size, name = self.points[j]
            if size and start <= addr < start + size:
                return name
        return self.points[i][2] if i >= 0 else None

    def _section_at(self, addr):
        for s in self.secs:
            if s['type'] == SHT_PROGBITS and s['flags'] & SHF_ALLOC \
                    and s['addr'] <= addr < s['addr'] + s['size']:
                return s
        return None

    def _read(self, fmt, addr):
        s = self._section_at(addr)
        return struct.unpack_from(fmt, self.data, s['off'] + addr - s['addr']) if s else None

    def _movw_imm(self, addr):
        h1, h2 = self._read('<HH', addr)
        return ((h1 & 0xF) << 12) | (((h1 >> 10) & 1) << 11) | (((h2 >> 12) & 7) << 8) \
            | (h2 & 0xFF)

    def _read_relocations(self, syms):
        for rs in self.secs:
            if rs['type'] != SHT_REL or not self.secs[rs['info']]['flags'] & SHF_ALLOC:
                continue
            in_vectors = self.secs[rs['info']]['name'] == '.vector_table'
            rels = [struct.unpack_from('<II', self.data, rs['off'] + 8 * i)
                    for i in range(rs['size'] // 8)]
            rels = [(off, info >> 8, info & 0xFF) for off, info in rels]
            movt = defaultdict(list)
            for off, si, kind in rels:
                if kind == R_ARM_THM_MOVT_ABS:
                    movt[si].append(off)
            for off, si, kind in rels:
                sym = syms[si]
                if kind == R_ARM_ABS32:  # the output already holds S+A
                    target = (self._read('<I', off) or (None,))[0]
                elif kind in (R_ARM_THM_CALL, R_ARM_THM_JUMP24):
                    if sym['type'] == STT_SECTION:
                        continue
                    target = sym['value']
                elif kind == R_ARM_THM_MOVW_ABS_NC:  # with the next MOVT of the same symbol
                    later = [o for o in movt[si] if o > off]
                    high = self._movw_imm(min(later)) if later else sym['value'] >> 16
                    target = (high << 16) | self._movw_imm(off)
                else:
                    continue
                if target is None:
                    continue
                s = self._section_at(target & ~1)
                if s and s['flags'] & SHF_EXECINSTR:
                    target &= ~1  # Thumb bit
                src = ROOT if in_vectors else self.owner(off)
                dst = self.owner(target)
                if dst and dst != src:
                    self.edges[src].add(dst)
                    self.sites[(src, dst)].append(off)

    def reachable(self, without=None):
        prev = {ROOT: None}
        queue = deque([ROOT])
        while queue:
            node = queue.popleft()
            for nxt in sorted(self.edges.get(node, ())):
                if nxt != without and nxt not in prev:
                    prev[nxt] = node
                    queue.append(nxt)
        return prev

    def lines(self, offsets):
        out = subprocess.run(['arm-none-eabi-addr2line', '-f', '-i', '-C', '-e', self.path]
                             + [hex(o) for o in offsets], capture_output=True, text=True)
        return out.stdout


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    graph = Graph(argv[1])
    args = argv[2:]
    if args[0] == '--refs':
        for src, targets in sorted(graph.edges.items()):
            for dst in sorted(targets):
                if args[1] in dst:
                    print(f'{src}  ->  {dst}')
                    if '--lines' in args:
                        sites = sorted(set(graph.sites[(src, dst)]))[:6]
                        print('    ' + graph.lines(sites).replace('\n', '\n    '))
        return
    prev = graph.reachable()
    if args[0] == '--dom':
        pattern = args[1] if len(args) > 1 else ''
        count = int(args[2]) if len(args) > 2 else 40
        total = sum(graph.size[n] for n in prev)
        freed = [(total - sum(graph.size[m] for m in graph.reachable(without=n)), n)
                 for n in prev if n != ROOT and pattern in n]
        for size, name in sorted(freed, reverse=True)[:count]:
            print(f'{size:7d}  {name}')
        return
    for pattern in args:
        hits = [n for n in prev if pattern in n]
        if not hits:
            print(f'{pattern}: not reachable')
        for hit in hits[:3]:
            chain, node = [], hit
            while node is not None:
                chain.append(node)
                node = prev[node]
            print(f'== {hit} ({graph.size[hit]} B)')
            for depth, node in enumerate(reversed(chain)):
                print('  ' * depth + node)


if __name__ == '__main__':
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    main(sys.argv)
