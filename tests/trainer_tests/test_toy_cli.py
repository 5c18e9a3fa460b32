from s2d.cli import main


def test_toy_info_without_a_zoo_exits_2(tmp_path, capsys):
    assert main(["toy", "info", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "toy zoo not built yet; run `s2d toy build" in err
    assert "Traceback" not in err


def test_toy_build_reuses_and_info_prints_the_table(tiny_zoo, capsys):
    cache = str(tiny_zoo.root.parent)
    assert main(["toy", "build", "--preset", "tiny", "--cache-dir", cache]) == 0
    out = capsys.readouterr().out
    assert f"reusing cached zoo at {tiny_zoo.root}" in out.replace("\n", "")
    assert "greedy acc" in out and "xs" in out
    assert main(["toy", "info", "--preset", "tiny", "--cache-dir", cache]) == 0
    out = capsys.readouterr().out
    assert f"{tiny_zoo.models['s']['params']:,}" in out and "toy:eval" in out


def test_toy_build_rejects_zero_workers(tmp_path, capsys):
    assert (
        main(["toy", "build", "--preset", "tiny", "--cache-dir", str(tmp_path), "--workers", "0"])
        == 2
    )
    assert "argument --workers: must be between 1 and 1024 (got 0)" in capsys.readouterr().err
