# GPU image for mtrl: the base brings CUDA and its own torch, which satisfies mtrl's torch range.
#   docker build -t mtrl .
#   docker run --gpus all -v "$PWD/runs:/opt/mtrl/runs" mtrl train --method dibs --transform task3:pow4
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

ENV PYTHONUNBUFFERED=1
WORKDIR /opt/mtrl
COPY pyproject.toml README.md ./
COPY mtrl ./mtrl
COPY agents ./agents
COPY envs ./envs
COPY reward_transforms ./reward_transforms
COPY experiments ./experiments
# README's install step (torch already present in the base image)
RUN pip install --no-cache-dir -e .

ENTRYPOINT ["mtrl"]
CMD ["train", "--config", "experiments/quickstart.yaml", "--device", "auto"]
