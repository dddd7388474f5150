import json,os,time,torch
from warmup_lib.config import *
from warmup_lib.runs.train import run
from warmup_lib.runs.vectorised import train_stack
from warmup_lib.runs.measure import measure_lambda0
R={"gpu":torch.cuda.get_device_name(0),"torch":torch.__version__}
d=DataConfig(name="chars",context=64)
def cfg(ln,steps,o="sgd",e=0.05,**k):
    return RunConfig(data=d,model=ModelConfig(arch="gpt",width=128,depth=4,heads=4,final_ln=ln),loss="xent",batch_size=64,steps=steps,eval_every=0,device="cuda",optim=OptimConfig(name=o),schedule=ScheduleConfig(eta_trgt=e,warmup_steps=1),**k)
def t(f):
    torch.cuda.synchronize();a=time.perf_counter();x=f();torch.cuda.synchronize();return time.perf_counter()-a,x
run(cfg(True,20))
for n in (100,400):
    json.dump(R,open(os.environ["OUT"]+"/tfgpu.json","w"));R[f"sgd_{n}"],r=t(lambda:run(cfg(True,n)))
R["sgd_params"]=r.summary["num_params"]
R["sharp_40_every4"],_=t(lambda:run(cfg(True,40,sharpness_every=4)))
a=cfg(True,40,"adam",0.001,pre_sharpness_every=4)
R["adam_pre_40_every4"],_=t(lambda:run(a))
for ln in (True,False):
    R[f"lambda0_f64_10b_{ln}"],m=t(lambda:measure_lambda0(cfg(ln,1),10));R[f"lambda0_{ln}"]=m["lambda_0"]
cs=[cfg(True,400,seed=s).replace(**{"schedule.eta_trgt":e,"schedule.warmup_steps":w}) for s in range(3) for e in (0.01,0.02,0.04,0.08,0.16) for w in (1,64)]
R["stack30_400"],rs=t(lambda:train_stack(cs))
R["stack_outcomes"]=[x.summary["outcome"] for x in rs]
json.dump(R,open(os.environ["OUT"]+"/tfgpu.json","w"),indent=1);print(R)
