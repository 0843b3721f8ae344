"""The DAG file parses quickly, wires only library calls, and follows the conventions."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = {"tw_nhird_to_omop": "Taiwan", "fi_registers_to_omop": "Finnish", "fhir_to_omop": "FHIR R4",
             "hl7v2_to_omop": "HL7 v2"}


@pytest.mark.parametrize("dag_id", sorted(DAG_FILES))
def test_dag_parses_with_expected_tasks_and_conventions(tmp_path, dag_id):
    DAG_FILE = REPO / "dags" / f"{dag_id}.py"
    word = DAG_FILES[dag_id]
    code = f"""
import os, sys, time, datetime
t0 = time.perf_counter()
import importlib.util
sys.path.insert(0, {str(REPO / "dags")!r})  # as Airflow does for the DAGs folder
spec = importlib.util.spec_from_file_location("d", {str(DAG_FILE)!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
from airflow.sdk import DAG
dag = [v for v in vars(m).values() if isinstance(v, DAG)][0]
assert dag.dag_id == {dag_id!r}, dag.dag_id
assert dag.doc_md and {word!r} in dag.doc_md
assert dag.start_date.tzinfo is not None
assert set(dag.task_ids) == {{"extract", "stage", "plan_partitions", "map_partition", "map_to_omop", "validate", "load",
                             "export_fhir", "summarise"}}, dag.task_ids
assert dag.get_task("map_to_omop").upstream_task_ids == {{"map_partition"}}
assert dag.get_task("map_partition").upstream_task_ids == {{"plan_partitions"}}
assert dag.get_task("plan_partitions").upstream_task_ids == {{"stage"}}
assert dag.get_task("summarise").upstream_task_ids == {{"export_fhir"}}
assert dag.get_task("export_fhir").upstream_task_ids == {{"load"}}
assert dag.get_task("load").upstream_task_ids == {{"validate"}}, "the quality gate must come before load"
assert dag.get_task("validate").upstream_task_ids == {{"map_to_omop"}}
assert dag.get_task("stage").retries >= 1
assert "great_expectations" not in sys.modules and "pandas" not in sys.modules, "heavy import at parse time"
print("PARSE_SECONDS", time.perf_counter() - t0)
"""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "PARSE_SECONDS" in proc.stdout


@pytest.mark.parametrize("dag_id", sorted(DAG_FILES))
def test_dag_file_only_wires_library_code(dag_id):
    tree = ast.parse((REPO / "dags" / f"{dag_id}.py").read_text())
    top_imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    modules = {(n.module or "") if isinstance(n, ast.ImportFrom) else n.names[0].name for n in top_imports}
    assert modules <= {"__future__", "os", "pathlib", "pendulum", "airflow.sdk", "importlib", "site_pipeline_dag"}, modules
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef) and any(
            isinstance(d, ast.Call) and getattr(d.func, "id", "") == "task" or getattr(d, "id", "") == "task"
            for d in fn.decorator_list
        ):
            assert len(fn.body) <= 6, f"task {fn.name} has {len(fn.body)} statements; keep logic in the library"


def _parse(tmp_path, code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)


def test_site_dags_emit_their_asset_only_after_the_gate_and_the_release_dag_listens(tmp_path):
    code = f"""
import importlib.util, sys
sys.path.insert(0, {str(REPO / 'dags')!r})
from airflow.sdk import DAG
def load(name):
    spec = importlib.util.spec_from_file_location(name, {str(REPO / 'dags')!r} + '/' + name + '.py')
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    return [v for v in vars(m).values() if isinstance(v, DAG)][0]
sites = {{"tw_nhird_to_omop": "taiwan", "fi_registers_to_omop": "finland", "fhir_to_omop": "fhir",
         "hl7v2_to_omop": "hl7v2"}}
for dag_id, site in sites.items():
    d = load(dag_id)
    outlets = d.get_task("summarise").outlets
    assert [o.uri for o in outlets] == ["crossbridge://omop/" + site], outlets
    assert all(not d.get_task(t).outlets for t in d.task_ids if t != "summarise")
    assert "validate" in d.get_task("summarise").get_flat_relative_ids(upstream=True)
rel = load("release_publish")
assert rel.dag_id == "release_publish" and "release" in rel.doc_md
assert set(rel.task_ids) == {{"plan", "build", "publish"}}, rel.task_ids
uris = {{a.uri for a in rel.timetable.asset_condition.objects}}  # any one of the site assets
assert uris == {{"crossbridge://omop/" + s for s in sites.values()}}, uris
assert rel.get_task("build").upstream_task_ids == {{"plan"}}
assert rel.get_task("publish").upstream_task_ids == {{"build"}}
assert "great_expectations" not in sys.modules and "pandas" not in sys.modules
print("OK")
"""
    proc = _parse(tmp_path, code)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-4000:]


@pytest.mark.parametrize("name", ["release_publish", "site_pipeline_dag", "cross_border_study"])
def test_shared_and_release_dag_files_only_wire_library_code(name):
    test_dag_file_only_wires_library_code(name)


def test_study_dag_checks_before_it_runs_and_publishes_after(tmp_path):
    code = f"""
import importlib.util, sys
sys.path.insert(0, {str(REPO / 'dags')!r})
from airflow.sdk import DAG
spec = importlib.util.spec_from_file_location("d", {str(REPO / 'dags' / 'cross_border_study.py')!r})
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
d = [v for v in vars(m).values() if isinstance(v, DAG)][0]
assert d.dag_id == "cross_border_study" and "aggregate" in d.doc_md and d.start_date.tzinfo is not None
assert set(d.task_ids) == {{"check", "run", "publish"}}, d.task_ids
assert d.get_task("run").upstream_task_ids == {{"check"}}
assert d.get_task("publish").upstream_task_ids == {{"run"}}
assert d.get_task("check").retries == 0 and d.get_task("run").retries >= 1
assert set(d.params) >= {{"spec", "site", "omop", "to", "partner", "workdir"}}
assert "great_expectations" not in sys.modules and "pandas" not in sys.modules
print("OK")
"""
    proc = _parse(tmp_path, code)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-4000:]
