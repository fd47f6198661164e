# GPU image for mtrl. The base brings CUDA and its own torch (inside mtrl's torch range), and
# the install step is the README's without the CPU torch pin, so the image keeps that torch.
#   docker build -t mtrl .
#   docker run --gpus all -v "$PWD/runs:/opt/mtrl/runs" mtrl train --method dibs --transform task3:pow4
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime

# headless MuJoCo rendering through EGL (training itself renders nothing)
ENV PYTHONUNBUFFERED=1 \
    MUJOCO_GL=egl \
    PYOPENGL_PLATFORM=egl

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libegl1 libgl1 libopengl0 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 1000 mtrl
WORKDIR /opt/mtrl
COPY pyproject.toml README.md ./
COPY mtrl ./mtrl
COPY agents ./agents
COPY envs ./envs
COPY reward_transforms ./reward_transforms
COPY experiments ./experiments
# the README's install step (torch already present in the base image), with Ray for sweeps
# and cvxpy + ECOS for the reference Nash-MTL solver (nashmtl-ccp in mt10_paper.yaml)
RUN pip install --no-cache-dir -e ".[ray,ccp]" \
    && mkdir -p /opt/mtrl/runs \
    && chown mtrl:mtrl /opt/mtrl/runs

USER 1000:1000
# runs are written here: mount a host folder on it to keep them
VOLUME ["/opt/mtrl/runs"]
ENTRYPOINT ["mtrl"]
CMD ["train", "--config", "experiments/quickstart.yaml", "--device", "auto"]
