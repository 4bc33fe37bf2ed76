"""The notebooks run top to bottom in a fresh kernel, from a folder outside the repository, and are committed
without outputs (like SimPy's documented examples, which its tests run)."""
import os

import nbformat
import pytest

from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 300          # per cell; each notebook takes well under a minute on one core


def _tree(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_mtime_ns) for p in folder.rglob("*")
                  if "__pycache__" not in p.parts)


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 5


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_committed_notebook_has_no_outputs_and_no_execution_counts(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (path.name, cell.source[:60])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_uses_only_the_public_api(path):
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "code")
    assert "from sim" not in code and "import sim." not in code
    assert "experiments/" not in code and "ROOT" not in code       # scenarios come from sim.example_scenario


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_runs_top_to_bottom_from_any_folder(path, tmp_path):
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import os, sim; print(os.getcwd()); print(sim.__file__)"))
    repository_before = _tree(ROOT / "notebooks") + _tree(ROOT / "experiments") + _tree(ROOT / "results")
    # The kernel starts in an empty folder and imports this tree's `sim` (not an installed copy).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "TMPDIR": str(tmp_path)}          # the notebooks' tempfile folders land in pytest's
    client = NotebookClient(nb, kernel_name="python3", timeout=TIMEOUT_S,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=env)          # raises CellExecutionError naming the cell on any error (`--durations 0` times it)
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert any("image/png" in out.get("data", {}) for out in outputs), "no chart shown inline"
    assert any("text/html" in out.get("data", {}) for out in outputs), "no table shown"
    assert nb.cells[-1].outputs[0].text.split() == [str(tmp_path), str(ROOT / "sim" / "__init__.py")]
    assert (_tree(ROOT / "notebooks") + _tree(ROOT / "experiments") + _tree(ROOT / "results")) == repository_before
