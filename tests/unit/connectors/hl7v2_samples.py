"""Builders of small HL7 v2 messages for the connector tests (segments joined by ``\\r``)."""

from __future__ import annotations

from pathlib import Path

TW_ID = "A123456789"  # valid (DOMAIN.md)
TW_BAD = "A123456788"  # wrong check digit
FI_ID = "131052-308T"  # valid (DOMAIN.md)
FI_BAD = "131052-308U"
SECRET = "test-secret"


def msh(mtype: str = "ADT^A01", *, version: str = "2.5", control: str = "C1", ts: str = "20240105080000+0800",
        charset: str = "", app: str = "ADT", facility: str = "HOSP") -> str:
    return f"MSH|^~\\&|{app}|{facility}|HUB|XB|{ts}||{mtype}|{control}|P|{version}|||AL|NE||{charset}"


def pid(ids: str = f"{TW_ID}^^^MOI^NNTWN~MR1^^^HOSP^MR", *, birth: str = "19800101", sex: str = "M",
        name: str = "WANG^XIAO") -> str:
    return f"PID|1||{ids}||{name}||{birth}|{sex}|||1 Main St^^Taipei^^100||^PRN^PH^^^^0912345678"


def pv1(cls: str = "I", loc: str = "W1^101^A^HOSP", visit: str = "V1", *, admit: str = "", discharge: str = "",
        prior: str = "") -> str:
    f = ["PV1", "1", cls, loc, "", "", prior, "", "", "", "MED"]
    f += [""] * (19 - len(f)) + [f"{visit}^^^HOSP^VN" if visit else ""]
    f += [""] * (44 - len(f)) + [admit, discharge]
    return "|".join(f)


def adt(trigger: str = "A01", *, control: str = "C1", version: str = "2.5", ts: str = "20240105080000+0800",
        ids: str | None = None, birth: str = "19800101", charset: str = "", name: str = "WANG^XIAO",
        extra: tuple[str, ...] = (), visit: str = "V1", cls: str = "I") -> str:
    evn = f"EVN|{trigger if version < '2.7' else ''}|{ts}"
    segs = [msh(f"ADT^{trigger}", version=version, control=control, ts=ts, charset=charset), evn,
            pid(ids, birth=birth, name=name) if ids is not None else pid(birth=birth, name=name),
            pv1(cls, visit=visit), *extra]
    return "\r".join(segs)


def oru(*, control: str = "L1", version: str = "2.5", ids: str | None = None, obx: tuple[str, ...] | None = None,
        ts: str = "20240105120000+0800") -> str:
    obx = obx if obx is not None else (
        "OBX|1|NM|2345-7^Glucose^LN||95|mg/dL^mg/dL^UCUM|70-99|N|||F|||20240105090000+0800",)
    segs = [msh("ORU^R01", version=version, control=control, app="LIS", ts=ts),
            pid(ids) if ids is not None else pid(),
            "OBR|1|P1^LIS|F1^LAB|2345-7^Glucose^LN|||20240105090000+0800|||||||||||||||||F", *obx]
    return "\r".join(segs)


def write(tmp: Path, name: str, messages: list[str | bytes], *, sep: str = "\r", encoding: str = "utf-8",
          mllp: bool = False, prefix: bytes = b"") -> Path:
    out = bytearray(prefix)
    for m in messages:
        data = m if isinstance(m, bytes) else m.encode(encoding)
        data = data.replace(b"\r", sep.encode())
        out += (b"\x0b" + data + b"\x1c\r") if mllp else (data + sep.encode())
    path = tmp / name
    path.write_bytes(bytes(out))
    return path
