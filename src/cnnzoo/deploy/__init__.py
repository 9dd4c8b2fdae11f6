"""Deployment on this machine: every path (PyTorch eager, TorchScript, compile; ONNX Runtime;
OpenVINO; fp32, bf16 where the CPU has it, int8) measured side by side, checked against eager
fp32 on real images, and the fastest that passes written out.

    from cnnzoo.deploy import deploy, load_deployed
    report = deploy(load_trained("lenet5", "runs/demo/best.safetensors"), out="deployed")
    print(report.table()); run, record = load_deployed("deployed")
"""

from cnnzoo.deploy.choose import Tolerance, available, deploy
from cnnzoo.deploy.paths import PATHS, DeployPath, path_keys
from cnnzoo.deploy.report import DeployReport, PathResult
from cnnzoo.deploy.write import load_deployed

__all__ = ["PATHS", "DeployPath", "DeployReport", "PathResult", "Tolerance", "available",
           "deploy", "load_deployed", "path_keys"]
