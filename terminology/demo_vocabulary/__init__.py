"""The project's demo vocabulary (Athena format) and the script that builds it."""

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
ATHENA_DIR = DEMO_DIR / "athena"  # stands in for a site's licensed Athena download
LOCAL_DIR = DEMO_DIR / "nhi_local"  # project-local vocabularies, loaded on top of any download
FINOMOP_DIR = DEMO_DIR / "finomop"  # Finnish source vocabularies: usagi-extended files + vocabularies.csv
