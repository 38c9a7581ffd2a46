# Regenerates openapi_k8s_1_33.json: the definitions the test cluster publishes, from k8s-openapi
# 0.29 (its v1_33 schemars impls carry k8s.io/api 1.33 field sets and descriptions).
# Run from this directory after `cargo fetch` has the k8s-openapi 0.29 crate in ~/.cargo.
import glob
import os, re, json, sys
K=glob.glob(os.path.expanduser("~/.cargo/registry/src/*/k8s-openapi-0.29.0/src/v1_33/"))[0]
files=[]
for root,_,fs in os.walk(K):
    for f in fs:
        if f.endswith(".rs"): files.append(os.path.join(root,f))
name_of={}   # rust path -> schema name
bodies={}    # schema name -> body text
def scan_block(s, i):
    # s[i] == '(' ; return index after matching ')'
    depth=0; j=i; instr=False
    while j < len(s):
        c=s[j]
        if instr:
            if c=='\\': j+=2; continue
            if c=='"': instr=False
        else:
            if c=='"': instr=True
            elif c in '([{': depth+=1
            elif c in ')]}':
                depth-=1
                if depth==0: return j+1
        j+=1
    raise Exception("unbalanced")
for f in files:
    src=open(f).read()
    m=re.search(r"impl crate::schemars::JsonSchema for (\w+) \{\s*fn schema_name\(\) -> std::borrow::Cow<'static, str> \{\s*\"([^\"]+)\"\.into\(\)", src)
    if not m: continue
    tname, sname = m.group(1), m.group(2)
    rel=os.path.relpath(f,K)[:-3].split(os.sep)
    mod="crate::"+"::".join(rel[:-1])+"::"+tname
    name_of[mod]=sname
    k=src.index("crate::schemars::json_schema!(", m.end())
    start=k+len("crate::schemars::json_schema!")
    end=scan_block(src,start)
    bodies[sname]=src[start+1:end-1]
def conv(body):
    def ref(path):
        n=name_of.get(path)
        if n is None: raise Exception("unknown "+path)
        return '{"$ref": %s}' % json.dumps("#/components/schemas/"+n)
    body=re.sub(r'\(\{\s*let mut schema_obj = __gen\.subschema_for::<([\w:]+)>\(\);\s*schema_obj\.ensure_object\(\)\.insert\("description"\.into\(\), ("(?:[^"\\]|\\.)*")\.into\(\)\);\s*schema_obj\s*\}\)',
                lambda m: '{"$ref": %s, "description": %s}' % (json.dumps("#/components/schemas/"+name_of[m.group(1)]), m.group(2)), body)
    body=re.sub(r'\(__gen\.subschema_for::<([\w:]+)>\(\)\)', lambda m: ref(m.group(1)), body)
    body=re.sub(r'__gen\.subschema_for::<([\w:]+)>\(\)', lambda m: ref(m.group(1)), body)
    body=re.sub(r',(\s*[}\]])', r'\1', body)
    return json.loads(body)
out={}; bad=[]
for n,b in bodies.items():
    try: out[n]=conv(b)
    except Exception as e: bad.append((n,str(e)[:200]))
print(len(out), "ok;", len(bad), "bad", file=sys.stderr)
for x in bad[:10]: print(x, file=sys.stderr)

d=out
C="io.k8s.api.core.v1."; M="io.k8s.apimachinery.pkg.apis.meta.v1."
roots=[C+x for x in "Service ServiceList Endpoints EndpointsList Secret SecretList ConfigMap ConfigMapList Namespace NamespaceList ServiceAccount ServiceAccountList Node NodeList Pod PodList PodExecOptions".split()]
roots+=["io.k8s.api.apps.v1."+x for x in "StatefulSet StatefulSetList DaemonSet DaemonSetList".split()]
roots+=["io.k8s.api.autoscaling.v1.Scale","io.k8s.api.discovery.v1.EndpointSlice","io.k8s.api.discovery.v1.EndpointSliceList","io.k8s.api.authorization.v1.SelfSubjectAccessReview","io.k8s.api.authorization.v1.SubjectAccessReview"]
roots+=[M+x for x in "Status DeleteOptions Patch WatchEvent APIVersions APIGroupList APIGroup Condition".split()]
seen=set(); todo=list(roots)
def refs(v,out):
    if isinstance(v,dict):
        for k,x in v.items():
            if k=="$ref": out.append(x.split("/")[-1])
            else: refs(x,out)
    elif isinstance(v,list):
        for x in v: refs(x,out)
while todo:
    n=todo.pop()
    if n in seen: continue
    if n not in d: print("hand-written in openapi.rs:",n); continue
    seen.add(n); o=[]; refs(d[n],o); todo+=o
sub={n:d[n] for n in sorted(seen)}
s=json.dumps(sub,separators=(",",":"),sort_keys=True)
open("openapi_k8s_1_33.json","w").write(s)
print(len(sub), len(s))
