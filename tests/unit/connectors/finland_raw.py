"""Small hand-made raw Finnish register files for the connector tests (no dependency on the generator).

Register files are written as the registers deliver them: ``;``-separated,
Latin-1, a header line, dates ``dd.mm.yyyy`` (care registers with a time);
the FinnGen file tab-separated, UTF-8, ``NA`` for missing.
"""

from __future__ import annotations

from pathlib import Path

from connectors.finland import layout
from connectors.finland.hetu import check_char


def hetu(ddmmyy: str, sign: str, nnn: str) -> str:
    """A valid henkilötunnus from its date part, century sign and individual number."""
    return f"{ddmmyy}{sign}{nnn}{check_char(ddmmyy, nnn)}"


#: valid codes: a woman born 1952 (the DOMAIN.md example), a woman born 1950, a man born 1975, a girl born 2002,
#: a temporary number (902, even: female)
HETU = [hetu("131052", "-", "308"), hetu("010150", "-", "124"), hetu("150675", "-", "247"),
        hetu("020202", "A", "136"), hetu("311299", "-", "902")]
BAD_HETU = "131052-308U"  # wrong check character

DEFAULTS: dict[str, dict[str, str]] = {
    "population": {"HETU": HETU[0], "SUKUPUOLI": "2", "SYNTYMAPV": "13.10.1952", "KOTIKUNTA": "179",
                   "KUNTA_NIMI": "Jyväskylä", "KUOLINPV": "", "MAASTAMUUTTOPV": ""},
    "hilmo": {"HILMO_ID": "H000000001", "TNRO": HETU[0], "TUPVA": "03.02.2019 08:15", "LPVM": "07.02.2019",
              "PALA": "1", "EA": "10", "PALTU": "10123", "KIIREELLISYYS": "P"},
    "hilmo_diag": {"HILMO_ID": "H000000001", "KENTTA": "PDGO", "N": "0", "KOODI": "I219"},
    "hilmo_proc": {"HILMO_ID": "H000000001", "N": "0", "TOIMP": "FNG02", "TOIMPPVM": "04.02.2019"},
    "avohilmo": {"AVOHILMO_ID": "A0000000000001", "TNRO": HETU[1], "KAYNTI_ALKOI": "12.03.2019 10:00",
                 "KAYNTI_YHTEYSTAPA": "R10", "KAYNTI_PALVELUMUOTO": "T11", "KAYNTI_AMMATTI": "221",
                 "KAYNTI_KIIREELLISYYS": "2"},
    "avohilmo_icd10": {"AVOHILMO_ID": "A0000000000001", "JARJESTYS": "0", "ICD10": "I10"},
    "avohilmo_icpc2": {"AVOHILMO_ID": "A0000000000001", "JARJESTYS": "0", "ICPC2": "K86"},
    "avohilmo_proc": {"AVOHILMO_ID": "A0000000000001", "JARJESTYS": "0", "TOIMP": "WX110"},
    "kela_purchase": {"HETU": HETU[1], "OSTOPV": "14.03.2019", "ATC": "C09AA02", "SAIR": "", "VNRO": "012345",
                      "PLKM": "1", "KORV_EUR": "12,50", "KAKORV_EUR": "0", "LAJI": "1"},
    "kela_reimb": {"HETU": HETU[1], "SK1": "205", "DIAG": "I10", "ALPV": "01.01.2015", "LOPV": ""},
    "fcr": {"HETU": HETU[2], "DG_PVM": "05.06.2018", "TOPO": "C509", "MORFO": "8500", "BEH": "3", "SIVU": "2"},
    "cod": {"HETU": HETU[0], "KPV": "20.11.2020", "TPKS": "I219", "VKS": "I469", "M1": "E119", "M2": "",
            "M3": "", "M4": ""},
    "fi_bb_sample": {"NAYTE_ID": "S000001", "HETU": HETU[2], "BIOPANKKI": "HELB", "NAYTETYYPPI": "SEERUMI",
                     "KERAYSPV": "01.09.2017"},
    "fi_bb_consent": {"HETU": HETU[2], "BIOPANKKI": "HELB", "SUOSTUMUS": "VOIMASSA", "SUOSTUMUSPV": "01.09.2017",
                      "PERUUTUSPV": ""},
    "finngen": {"FINNGENID": "FG00000001", "SOURCE": "INPAT", "EVENT_AGE": "61.25",
                "APPROX_EVENT_DAY": "2015-04-01", "CODE1": "I219", "CODE2": "NA", "CODE3": "NA", "CODE4": "3",
                "ICDVER": "10", "CATEGORY": "0", "INDEX": "FG1_INPAT_1"},
}


def row(ft_key: str, **values: str) -> dict[str, str]:
    """A raw row of a file type: the defaults with ``values`` overriding them."""
    out = dict(DEFAULTS[ft_key])
    out.update(values)
    return out


def line(ft: layout.FileType, values: dict[str, str]) -> str:
    """One raw line (without newline) in layout column order; absent columns are empty."""
    unknown = set(values) - set(ft.column_names)
    assert not unknown, unknown
    return ft.delimiter.join(values.get(c, "") for c in ft.column_names)


def write_raw(
    folder: Path,
    ft_key: str,
    rows: list[dict[str, str] | str | bytes],
    *,
    year: int = 2019,
    name: str | None = None,
    encoding: str | None = None,
    header: list[str] | None = None,
    newline: str = "\n",
) -> Path:
    """Write a raw file (header + rows) into ``folder``; a str/bytes row is written as the literal line.

    ``encoding`` defaults to the file type's own (Latin-1 for registers, UTF-8 for FinnGen);
    ``header`` replaces the layout's header line (to provoke a layout mismatch).
    """
    ft = layout.BY_KEY[ft_key]
    encoding = encoding or ft.encoding
    if name is None:
        name = ft.file_name(year) if ft.period == "year" else ft.file_name()
    path = folder / name
    out = bytearray((ft.delimiter.join(header or ft.column_names) + newline).encode(encoding))
    for r in rows:
        if isinstance(r, bytes):
            out += r + newline.encode()
        elif isinstance(r, str):
            out += (r + newline).encode(encoding)
        else:
            out += (line(ft, r) + newline).encode(encoding)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path
